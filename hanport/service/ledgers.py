"""The idempotency ledgers' request digests (``idempotency_keys``, ``batch_documents``): the
SHA-256 of the request under the pepper, so a reader of the database alone cannot test a
guessed request (a customer's move, a consent's fields) against them. Their rows are kept —
deleting them would let a re-sent document act again.

Rows written before the pepper (a bare SHA-256) still match until ``hanport privacy
rekey-ledgers`` has turned them into keyed ones (it needs the pepper, which a schema migration
never sees)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.service.commands import RekeyLedgers
from hanport.service.unit import transaction
from hanport.storage.hashing import canonical_json, keyed_digest
from hanport.workflows.definition import Actor, Role


def bare(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(request)).encode()).hexdigest()


def bare_document(values: Mapping[str, str]) -> str:
    """A terminations document's digest, as the batch has always made it."""
    return hashlib.sha256(json.dumps(dict(values), sort_keys=True).encode()).hexdigest()


def keyed(app: App, digest: str) -> str:
    return keyed_digest(app.pepper(), digest)


def same(app: App, stored: str, digest: str) -> bool:
    """Whether a stored request digest is this request's (keyed, or bare from before)."""
    return stored == keyed(app, digest) if stored.startswith("k:") else stored == digest


def rekey(app: App, actor: Actor, cmd: RekeyLedgers) -> dict[str, int]:
    """Key every bare digest of both ledgers under the pepper, in one transaction; the rows
    turned, by ledger (a second run finds none)."""
    if actor.role not in (Role.PRIVACY, Role.SUPERVISOR, Role.SYSTEM):
        raise Refused(f"rekeying the ledgers needs privacy or a supervisor; {actor.name} is "
                      f"{actor.role.value}")  # fmt: skip
    with transaction(app, immediate=True) as uow:
        keys = uow.idempotency.bare()
        documents = uow.batch.bare()
        if not cmd.dry_run:
            uow.idempotency.rekey([(keyed(app, h), kind, key) for kind, key, h in keys])
            uow.batch.rekey([(keyed(app, h), doc) for doc, h in documents])
            uow.commit()
    return {"idempotency_keys": len(keys), "batch_documents": len(documents)}
