"""`python -m bench [zendesk|backfill|liveagent|freshdesk|kpi|postgres|daemon|soak|webhooks|fleet
...]`: run the benchmarks and print their figures."""

from __future__ import annotations

import importlib
import sys
import time

PARTS = {
    "zendesk": "bench.zendesk_sync",
    "backfill": "bench.backfill",
    "liveagent": "bench.liveagent_sync",
    "freshdesk": "bench.freshdesk_sync",
    "kpi": "bench.kpi",
    "postgres": "bench.postgres",
    "daemon": "bench.daemon",
    "soak": "bench.soak",
    "webhooks": "bench.webhooks",
    "fleet": "bench.fleet",
}


def main(argv: list[str]) -> int:
    wanted = argv or list(PARTS)
    unknown = [name for name in wanted if name not in PARTS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(PARTS)}")
        return 2
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        importlib.import_module(PARTS[name]).run()
        print(f"({name}: {time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
