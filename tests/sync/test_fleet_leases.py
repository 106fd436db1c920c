"""The lease protocol of sync.fleet, statement by statement, on PostgreSQL: claims never overlap,
an expired lease is taken over and its old holder can neither renew nor release it, a failing
account backs off without holding anyone up, and the view says who is behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text, update

from deskpulse.sync.fleet import Leases
from deskpulse.sync.fleet_status import fleet_view
from deskpulse.sync.state import FleetLease
from deskpulse.sync.warehouse import Warehouse, table
from tests.pg import postgres_schema_url

WORK = {f"acct{k}": ([f"acct{k}"], 60.0) for k in range(10)}


@pytest.fixture
def warehouse() -> Iterator[Warehouse]:
    with postgres_schema_url() as url:
        wh = Warehouse(url)
        yield wh
        wh.dispose()


def leases(warehouse: Warehouse, me: str, lease: float = 30) -> Leases:
    found = Leases(warehouse, me, lease)
    found.register(WORK, 4)
    return found


def view_of(warehouse: Warehouse) -> dict[str, Any]:
    with warehouse.connect() as conn:
        return fleet_view(conn)


def expire(warehouse: Warehouse, account: str) -> None:
    """As if the holder stopped renewing a lease ago."""
    t = table(FleetLease.__tablename__)
    with warehouse.begin() as conn:
        conn.execute(
            update(t)
            .where(t.c.account == account)
            .values(lease_until=text("now() - interval '1 second'"))
        )


def test_daemons_claiming_at_once_never_get_the_same_account(warehouse: Warehouse) -> None:
    members = [leases(warehouse, f"d{k}") for k in range(4)]
    got: dict[str, list[str]] = {}
    start = threading.Barrier(4)

    def claim(member: Leases) -> None:
        start.wait()
        got[member.me] = [h.account for h in member.claim(list(WORK), 3)]

    threads = [threading.Thread(target=claim, args=(m,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [a for accounts in got.values() for a in accounts]
    assert len(claimed) == len(set(claimed)) == 10  # 4 x 3 asked, 10 due: each once
    assert all(len(accounts) <= 3 for accounts in got.values())
    view = view_of(warehouse)
    assert {a["account"]: a["holder"] for a in view["accounts"]} == {
        a: m for m, accounts in got.items() for a in accounts
    }


def test_an_expired_lease_is_taken_over_and_fences_its_old_holder(warehouse: Warehouse) -> None:
    old, new = leases(warehouse, "old"), leases(warehouse, "new")
    (held,) = old.claim(["acct0"], 1)
    assert new.claim(["acct0"], 1) == []  # held and live: not due for anyone else
    expire(warehouse, "acct0")
    (taken,) = new.claim(["acct0"], 1)
    assert taken.epoch == held.epoch + 1
    assert old.renew([held], 4) == {"acct0"}  # the old holder learns it lost it
    old.release(held, delay=60, failures=0, error=None)  # and its release changes nothing
    (row,) = view_of(warehouse)["accounts"][:1]
    assert (row["holder"], row["cycles"]) == ("new", 0)
    new.release(taken, delay=60, failures=0, error=None)
    (row,) = view_of(warehouse)["accounts"][:1]
    assert (row["holder"], row["cycles"], row["last_holder"]) == (None, 1, "new")


def test_a_failing_account_backs_off_and_the_others_keep_their_turn(
    warehouse: Warehouse,
) -> None:
    d = leases(warehouse, "d")
    held = d.claim(list(WORK), 10)
    for h in held:
        failed = h.account == "acct3"
        d.release(h, delay=240 if failed else 0, failures=1 if failed else 0,
                  error="boom" if failed else None)  # fmt: skip
    again = {h.account for h in d.claim(list(WORK), 10)}
    assert again == set(WORK) - {"acct3"}  # backed off 4 min; nobody waits for it
    (row,) = [a for a in view_of(warehouse)["accounts"] if a["account"] == "acct3"]
    assert (row["failures"], row["error"], row["lag"]) == (1, "boom", None)


def test_the_view_says_who_is_behind(warehouse: Warehouse) -> None:
    leases(warehouse, "d")
    t = table(FleetLease.__tablename__)
    with warehouse.begin() as conn:  # due two intervals ago, and nobody took it
        conn.execute(
            update(t).where(t.c.account == "acct1")
            .values(due_at=text("now() - interval '120 seconds'"))
        )  # fmt: skip
    view = view_of(warehouse)
    assert [a["account"] for a in view["accounts"] if a["behind"]] == ["acct1"]
    assert view["daemons"][0]["daemon"] == "d" and view["daemons"][0]["alive"]
