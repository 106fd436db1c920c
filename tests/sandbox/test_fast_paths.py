"""The sandbox's shortcuts give exactly what the straightforward code gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson

from deskpulse.sandbox import streams
from deskpulse.sandbox.data import Account, FastRandom, TicketRef, ts_iso
from deskpulse.sandbox.wire import JSONArray, Response
from deskpulse.sandbox.zendesk import render


def test_partial_tickets_agree_with_full_ones() -> None:
    a = Account(seed=13, tickets=400)
    for i in range(a.n_tickets):
        full = a.ticket(i)
        bare = a.ticket(i, story=False)
        assert bare.audits == [] and bare.metric_events == []
        assert render.ticket_json(bare, "http://x") == render.ticket_json(full, "http://x")
        assert render.metric_set_json(bare, "http://x") == render.metric_set_json(full, "http://x")
        lean = a.ticket(i, custom_fields=False)
        assert lean.custom_fields == []
        assert lean.audits == full.audits and lean.metric_events == full.metric_events
        ref = TicketRef.of(full)
        assert streams.audits_of(a, i) == [
            (au.ts, full.id * 64 + n, (ref, au.author_id, au.via, au.children, n))
            for n, au in enumerate(full.audits)
        ]


def test_json_array_is_written_as_orjson_writes_the_list() -> None:
    for size in (0, 1, 99, 100, 101, 250):
        items = [{"n": n, "s": f"é{n}\n", "l": [n, None]} for n in range(size)]
        arr = JSONArray()
        for item in items[: size // 2]:
            arr.append(item)
        arr.extend(items[size // 2 :])
        assert len(arr) == size
        body = {"records": arr, "count": size, "next": None, "more": [1]}
        expected = orjson.dumps({**body, "records": items})
        assert Response.json(200, body).body == expected


def test_random_shortcuts_draw_like_the_stdlib() -> None:
    for seed in range(500):
        fast, slow = FastRandom.from_key(seed * 7919), random.Random(seed * 7919)
        assert fast.random() == slow.random()
        for k in range(4):
            assert fast.small_sample(tuple(range(8)), k) == slow.sample(tuple(range(8)), k)
        assert fast.below(3) == slow.choice((0, 1, 2))


def test_ts_iso_is_strftime() -> None:
    rnd = random.Random(3)
    for ts in [0, 59, 86_399, 86_400, -1, *(rnd.randrange(-(2**33), 2**35) for _ in range(2000))]:
        expected = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert ts_iso(ts) == expected
