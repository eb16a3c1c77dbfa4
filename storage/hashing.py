"""The canonical event form and the per-case SHA-256 hash chain, and the salted hashes events
carry instead of personal data."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

GENESIS = "0" * 64


def _no_floats(obj: Any, path: str = "$") -> None:
    if isinstance(obj, float):
        raise TypeError(f"floats are not allowed in hashed data ({path})")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _no_floats(v, f"{path}.{k}")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _no_floats(v, f"{path}[{i}]")


def canonical_json(obj: Any) -> str:
    """``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``; no floats."""
    _no_floats(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the canonical event, UTF-8."""
    return hashlib.sha256((prev_hash + canonical_json(event)).encode("utf-8")).hexdigest()


def canonical_event(
    *,
    case_ref: str,
    seq: int,
    occurred_at: str,
    actor: str,
    actor_kind: str,
    trigger: str,
    from_state: str | None,
    to_state: str,
    workflow: str,
    workflow_version: int,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The fields an event's hash covers, as stored (``occurred_at`` in UTC ISO form)."""
    return {
        "case": case_ref,
        "seq": seq,
        "occurred_at": occurred_at,
        "actor": actor,
        "actor_kind": actor_kind,
        "trigger": trigger,
        "from": from_state,
        "to": to_state,
        "workflow": workflow,
        "workflow_version": workflow_version,
        "data": data,
    }


def personal_hash(salt: bytes, value: str) -> str:
    """A keyed hash standing in for a personal value in events (equality survives, the value
    does not)."""
    return "h:" + hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
