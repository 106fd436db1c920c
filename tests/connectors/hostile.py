"""Hostile vendor data for every connector's tests: a record with one field replaced by a wrong
type or an absurd value, or removed, down to a chosen depth."""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deskpulse.connectors.base import Connector

HOSTILE: tuple[Any, ...] = (
    None,
    "",
    "x\x00y",
    -1,
    10**20,
    1e308,
    True,
    [],
    {},
    [None],
    {"id": None},
    "9999-99-99T99:99:99Z",
    "0001-01-01T00:00:00+14:00",
)


def variants(record: Any, depth: int = 2) -> Iterator[tuple[str, Any]]:
    """(label, copy of `record` with one field changed): each field of the record, and of the
    objects in it (a list's first one) down to `depth` levels, set to each HOSTILE value or
    removed. Labels say which field and value, e.g. `attributes.email=None`."""
    for path in _paths(record, depth):
        for bad in HOSTILE:
            yield f"{_label(path)}={bad!r}", _replaced(record, path, bad)
        yield f"without {_label(path)}", _replaced(record, path, _REMOVE)


_REMOVE = object()


def _paths(value: Any, depth: int, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if depth <= 0:
        return
    if isinstance(value, list) and value and isinstance(value[0], dict):
        value, prefix = value[0], (*prefix, 0)
    if not isinstance(value, dict):
        return
    for key, inner in value.items():
        yield (*prefix, key)
        yield from _paths(inner, depth - 1, (*prefix, key))


def _replaced(record: Any, path: tuple[Any, ...], bad: Any) -> Any:
    changed = copy.deepcopy(record)
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    if bad is _REMOVE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(bad)
    return changed


def _label(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


@dataclass
class Outcome:
    """What the hostile variants came to: crashes (label, error and where it was raised),
    records quarantined and rows mapped."""

    crashes: list[str] = field(default_factory=list)
    quarantined: int = 0
    mapped: int = 0

    def check(self, what: str) -> None:
        """No crash, and every quarantine reason one line."""
        assert not self.crashes, f"{what}: {len(self.crashes)} crashes:\n" + "\n".join(
            self.crashes[:40]
        )


def try_each(
    cases: Iterable[tuple[str, Any]],
    connector_for: Callable[[Any], Connector],
    only: set[str],
) -> Outcome:
    """Run the streams `only` of `connector_for(record)` for each hostile case, as the engine
    would (tests.connectors.zendesk_fakes.collect: RecordError quarantines, anything else is a
    crash)."""
    from tests.connectors.zendesk_fakes import collect

    out = Outcome()
    for label, record in cases:
        connector = connector_for(record)
        try:
            result = collect(connector, only=only)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{Path(frame.filename).name}:{frame.lineno}"
            out.crashes.append(f"{label}: {type(exc).__name__} at {where}: {exc}")
            continue
        finally:
            connector.close()
        for _, _, reason in result.rejects:
            assert reason and "\n" not in reason, (label, reason)
        out.quarantined += len(result.rejects)
        out.mapped += sum(len(ids) for ids in result.emitted.values())
    return out
