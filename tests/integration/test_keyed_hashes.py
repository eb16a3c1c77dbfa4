"""Hashes that forget, on a real SQLite file and on PostgreSQL: the values events carry for
personal fields are keyed per customer and by the pepper (configuration, never the database);
without the pepper nothing is hashed; erasing a customer destroys their key; the idempotency
ledgers hold keyed digests, the bare ones of before turned by ``rekey-ledgers``."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from sqlalchemy import text

from hanport.bootstrap import App, bootstrap
from hanport.config import ConfigError, load
from hanport.service import run
from hanport.service.commands import OpenCase, RekeyLedgers
from hanport.service.ledgers import bare
from hanport.storage.views import reading
from hanport.workflows.definition import Actor, Role
from tests.support import (
    NORE_POINT,
    actor,
    consent,
    import_customers,
    import_points,
    keyed_hash_of,
    open_case,
    settings_for,
)


def _rows(app: App, sql: str) -> list[tuple[object, ...]]:
    with app.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_a_real_database_hashes_nothing_without_the_pepper(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url)
    assert settings.pepper is None  # the tests' own environment is not read here
    app = bootstrap(settings, simulated=False, create=True)
    try:
        from tests.support import CUSTOMERS_CSV, POINTS_CSV

        (tmp_path / "c.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")
        (tmp_path / "p.csv").write_text(POINTS_CSV, encoding="utf-8")
        cw = Actor("cw", Role.CASEWORKER, "caseworker")  # no login mapping needed here
        import_customers(app, cw, tmp_path / "c.csv")  # nothing personal is hashed here
        import_points(app, cw, tmp_path / "p.csv")
        with pytest.raises(ConfigError, match="HANPORT_PEPPER is not set"):
            open_case(app, cw, "nore_open", customer="1001", metering_point=NORE_POINT,
                      fields=consent())  # fmt: skip
        assert _rows(app, "SELECT count(*) FROM cases") == [(0,)]
        with pytest.raises(ConfigError, match="at least 32 characters"):
            load({"HANPORT_PEPPER": "short"})
    finally:
        app.close()


def test_every_customer_has_a_key_and_the_salt_is_gone(seeded: App) -> None:
    keys = _rows(seeded, "SELECT customer_pk, key FROM subject_keys ORDER BY customer_pk")
    customers = _rows(seeded, "SELECT id FROM customers ORDER BY id")
    assert [k[0] for k in keys] == [c[0] for c in customers]
    assert len({k[1] for k in keys}) == len(keys)  # one key each
    assert _rows(seeded, "SELECT value FROM meta WHERE key = 'salt'") == []
    ref = open_case(
        seeded, actor(seeded), "nore_open", customer="1001", metering_point=NORE_POINT,
        fields=consent(),
    ).case  # fmt: skip
    with reading(seeded.engine) as views:
        case = views.cases.by_ref(ref)
        assert case is not None
        data = views.events.of_case(case.id)[1].data
    signer = keyed_hash_of(seeded, "1001", "Kari Nordmann")
    assert signer in data
    # The key alone (what a reader of the database holds) does not make the hash: the pepper
    # (configuration) is needed too.
    (key,) = [k for pk, k in keys if pk == case.customer_pk]
    alone = hmac.new(bytes.fromhex(str(key)), b"Kari Nordmann", hashlib.sha256).hexdigest()[:32]
    assert f"k:{alone}" not in data


def test_erasing_a_customer_destroys_their_key(seeded: App) -> None:
    from hanport.errors import Refused
    from hanport.service.commands import EraseCustomer

    run(seeded, actor(seeded, "dpo"), EraseCustomer("1003", "art. 17 request"))
    (row,) = _rows(
        seeded,
        "SELECT k.key, k.destroyed_at FROM subject_keys k JOIN customers u ON u.id = "
        "k.customer_pk WHERE u.customer_id = '1003'",
    )
    if row[0] is None:  # erased in full (no point, no case): the key is gone
        assert row[1] is not None
        with pytest.raises(Refused, match="erased"):
            keyed_hash_of(seeded, "1003", "Per Åsen")
    else:  # only the contact details could go (1003 holds a point): the key stays
        assert row[1] is None


def test_ledgers_hold_keyed_digests_and_old_ones_are_rekeyed(seeded: App) -> None:
    cmd = OpenCase("meter_swap", customer="1002", metering_point="707057500000000025", key="k-1")
    first = run(seeded, actor(seeded), cmd)
    (stored,) = _rows(seeded, "SELECT request_hash FROM idempotency_keys WHERE key = 'k-1'")
    assert str(stored[0]).startswith("k:") and len(str(stored[0])) <= 64
    # A row written before the pepper held the bare SHA-256 of the request.
    request = {
        "workflow": "meter_swap",
        "customer": "1002",
        "metering_point": "707057500000000025",
        "meter_number": None,
        "channel": None,
        "from_email": None,
        "fields": {},
        "energipilot_ack": False,
    }
    with seeded.engine.begin() as conn:
        conn.execute(
            text("UPDATE idempotency_keys SET request_hash = :h WHERE key = 'k-1'"),
            {"h": bare(request)},
        )
    assert run(seeded, actor(seeded), cmd).already_applied  # the bare one still matches
    sup = actor(seeded, "sup")
    assert run(seeded, sup, RekeyLedgers(dry_run=True))["idempotency_keys"] == 1
    assert run(seeded, sup, RekeyLedgers())["idempotency_keys"] == 1
    assert run(seeded, sup, RekeyLedgers())["idempotency_keys"] == 0
    (stored,) = _rows(seeded, "SELECT request_hash FROM idempotency_keys WHERE key = 'k-1'")
    assert str(stored[0]).startswith("k:")
    again = run(seeded, actor(seeded), cmd)
    assert again.already_applied and again.case == first.case
    with pytest.raises(Exception, match="privacy or a supervisor"):
        run(seeded, actor(seeded, "cw"), RekeyLedgers())


def test_a_new_customer_gets_a_key_when_imported(seeded: App, tmp_path: Path) -> None:
    before = _rows(seeded, "SELECT count(*) FROM subject_keys")[0][0]
    path = tmp_path / "one.csv"
    path.write_text(
        "customer_id;name;email;phone;street;postal_code;city;language;energipilot\n"
        "1099;Ny Kunde;ny@example.no;;Vegen 1;3630;Rødberg;nb;no\n",
        encoding="utf-8",
    )
    import_customers(seeded, actor(seeded), path)
    assert _rows(seeded, "SELECT count(*) FROM subject_keys")[0][0] == int(str(before)) + 1
