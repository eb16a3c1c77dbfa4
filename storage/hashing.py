"""The canonical event form and the per-case SHA-256 hash chain, and the salted hashes events
carry instead of personal data."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from json.encoder import encode_basestring
from typing import Any

GENESIS = "0" * 64


def _has_float(obj: Any) -> bool:
    """Whether a float is anywhere in ``obj`` (a tight walk: this runs on every event)."""
    stack = [obj]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is dict:
            stack.extend(x.values())
        elif t is list or t is tuple:
            stack.extend(x)
        elif t is float:
            return True
    return False


def _float_path(obj: Any, path: str = "$") -> str:
    """Where the float is (only looked for once one was found)."""
    if isinstance(obj, float):
        return path
    items = (
        obj.items()
        if isinstance(obj, dict)
        else enumerate(obj)
        if isinstance(obj, list | tuple)
        else ()
    )
    for k, v in items:
        found = _float_path(v, f"{path}.{k}" if isinstance(obj, dict) else f"{path}[{k}]")
        if found:
            return found
    return ""


def _no_floats(obj: Any) -> None:
    if _has_float(obj):
        raise TypeError(f"floats are not allowed in hashed data ({_float_path(obj)})")


# ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` builds this encoder
# on every call; one, made once, gives the same text.
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical_json(obj: Any) -> str:
    """``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``; no floats."""
    _no_floats(obj)
    return _ENCODE(obj)


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


def canonical_event_text(
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
    data_json: str,
) -> str:
    """``canonical_json(canonical_event(...))`` built from the stored canonical data text,
    without parsing it: what ``audit verify`` hashes a million times. Stored data that is not
    canonical text gives a different string — any change to the stored text is caught."""
    q = _quote
    return (
        f'{{"actor":{q(actor)},"actor_kind":{q(actor_kind)},"case":{q(case_ref)},'
        f'"data":{data_json},"from":{"null" if from_state is None else q(from_state)},'
        f'"occurred_at":{q(occurred_at)},"seq":{int(seq)},"to":{q(to_state)},'
        f'"trigger":{q(trigger)},"workflow":{q(workflow)},"workflow_version":{int(workflow_version)}}}'
    )


# What ``json.dumps(value, ensure_ascii=False)`` gives for a string, without building an encoder
# per call; actors, triggers and states repeat, so their quoted forms are cached.
_quote = functools.lru_cache(maxsize=8192)(encode_basestring)


def chain_hash_text(prev_hash: str, event_text: str) -> str:
    return hashlib.sha256((prev_hash + event_text).encode("utf-8")).hexdigest()


def personal_hash(salt: bytes, value: str) -> str:
    """The hash events recorded before per-subject keys (``h:``, one salt per database, now
    destroyed): kept for reading old events, never made any more."""
    return "h:" + hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def subject_secret(pepper: str, subject_key: str) -> bytes:
    """The key a subject's values are hashed with: their own key (in the database, destroyed
    when they are erased) under the pepper (configuration, never in the database)."""
    return hmac.new(pepper.encode("utf-8"), bytes.fromhex(subject_key), hashlib.sha256).digest()


def keyed_hash(secret: bytes, value: str) -> str:
    """A keyed hash standing in for a personal value in events (``k:``): equality survives for
    one subject, the value does not, and without the pepper no guess can be tested."""
    return "k:" + hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def keyed_digest(pepper: str, digest: str) -> str:
    """An idempotency ledger's request digest under the pepper (``k:``): a reader of the
    database alone cannot test a guessed request against it."""
    mac = hmac.new(pepper.encode("utf-8"), digest.encode("ascii"), hashlib.sha256)
    return "k:" + mac.hexdigest()[:62]  # the ledgers' columns hold 64 characters
