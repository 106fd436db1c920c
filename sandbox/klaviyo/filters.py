"""Klaviyo's filter language, for every route of the dialect: parse, check against the
operation's allowed (field, operator) pairs, apply.

Grammar (developers.klaviyo.com "Filtering"): `op(field,value)` conditions joined by commas or
wrapped in `and(...)` (nested at will; both mean AND). Values: strings in single or double
quotes, lists `["a","b"]`, unquoted datetimes (`2026-01-01T00:00:00Z`, or a date), numbers,
`true` / `false`, `null`; `has(field)` takes no value. A quoted datetime is invalid (as on
Klaviyo). `or(...)` and `not(...)` are not in any operation's `x-klaviyo-filters`: 400.

FILTERS is the one table of what each operation allows, copied from the `x-klaviyo-filters` of
shared/specs/klaviyo/stable.json (revision 2026-07-15; tests/sandbox/test_klaviyo_filters.py
checks it against the document): field -> (operators with a single value, operators with a
list, operators without a value, the value's type). Anything outside it answers Klaviyo's 400
`invalid` naming the operator and field, never a silently ignored condition.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from deskpulse.sandbox.wire import ApiError


@dataclass(frozen=True, slots=True)
class Field:
    single: frozenset[str] = frozenset()
    list: frozenset[str] = frozenset()
    none: frozenset[str] = frozenset()
    kind: str = "string"  # string | date-time | number | boolean


def _f(single: str = "", lst: str = "", none: str = "", kind: str = "string") -> Field:
    return Field(frozenset(single.split()), frozenset(lst.split()), frozenset(none.split()), kind)


_CMP = "greater-or-equal greater-than less-or-equal less-than"
MAX_DEPTH = 100  # operations in one filter: deeper nesting would exhaust the parser's stack

FILTERS: dict[str, dict[str, Field]] = {
    "get_events": {
        "metric_id": _f("equals", "equals"),
        "profile_id": _f("equals"),
        "profile": _f(none="has"),
        "metric": _f(none="has"),
        "datetime": _f(_CMP, kind="date-time"),
        "timestamp": _f(_CMP, kind="number"),
    },
    "get_profiles": {
        "id": _f("equals", "any equals"),
        "email": _f("equals", "any equals"),
        "phone_number": _f("equals", "any equals"),
        "external_id": _f("equals", "any equals"),
        "_kx": _f("equals"),
        "created": _f("greater-than less-than", kind="date-time"),
        "updated": _f("greater-than less-than", kind="date-time"),
        "subscriptions.email.marketing.list_suppressions.reason": _f("equals"),
        "subscriptions.email.marketing.list_suppressions.timestamp": _f(_CMP, kind="date-time"),
        "subscriptions.email.marketing.list_suppressions.list_id": _f("equals"),
        "subscriptions.email.marketing.suppression.reason": _f("equals"),
        "subscriptions.email.marketing.suppression.timestamp": _f(_CMP, kind="date-time"),
    },
    "get_metrics": {
        "integration.name": _f("equals"),
        "integration.category": _f("equals"),
    },
    "get_lists": {
        "name": _f(lst="any equals"),
        "id": _f("equals", "any equals"),
        "created": _f("greater-than", kind="date-time"),
        "updated": _f("greater-than", kind="date-time"),
    },
    "get_profiles_for_list": {
        "email": _f(lst="any equals"),
        "phone_number": _f(lst="any equals"),
        "push_token": _f(lst="any equals"),
        "_kx": _f("equals"),
        "joined_group_at": _f(_CMP, kind="date-time"),
    },
    "get_campaigns": {
        "id": _f(lst="any"),
        "messages.channel": _f("equals"),
        "name": _f("contains"),
        "status": _f("equals", "any equals"),
        "archived": _f("equals", kind="boolean"),
        "created_at": _f(_CMP, kind="date-time"),
        "scheduled_at": _f(_CMP, kind="date-time"),
        "updated_at": _f(_CMP, kind="date-time"),
    },
    "get_flows": {
        "id": _f(lst="any"),
        "name": _f("contains ends-with equals starts-with"),
        "status": _f("equals"),
        "archived": _f("equals", kind="boolean"),
        "created": _f("equals " + _CMP, kind="date-time"),
        "updated": _f("equals " + _CMP, kind="date-time"),
        "trigger_type": _f("equals"),
    },
    "get_templates": {
        "id": _f(lst="any equals"),
        "name": _f("contains equals", "any equals"),
        "created": _f("equals " + _CMP, kind="date-time"),
        "updated": _f("equals " + _CMP, kind="date-time"),
    },
}
"""operationId -> field -> what the document's x-klaviyo-filters allows."""


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Condition:
    op: str
    field: str
    value: Any  # str | int | float | bool | None | list of those; datetimes as epoch seconds


class _Moment(int):
    """An unquoted datetime, as epoch seconds (an int, so comparisons need no special case)."""


class _Quoted(str):
    """A quoted string (a quoted datetime is invalid where the field is a datetime)."""


def invalid(detail: str, parameter: str = "filter") -> ApiError:
    """Klaviyo's 400 for a query parameter it will not take (by default the `filter`)."""
    return ApiError(
        400,
        {
            "errors": [
                {
                    "id": "sandbox-400",
                    "status": 400,
                    "code": "invalid",
                    "title": "Invalid input.",
                    "detail": detail,
                    "source": {"parameter": parameter},
                }
            ]
        },
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> ApiError:
        return invalid(f"Invalid filter provided: {why} at position {self.pos} of {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def expect(self, char: str) -> None:
        self.skip_spaces()
        if self.peek() != char:
            raise self.fail(f"expected {char!r}")
        self.pos += 1

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def word(self) -> str:
        self.skip_spaces()
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] in "_-.$"
        ):
            self.pos += 1
        if start == self.pos:
            raise self.fail("expected a name")
        return self.text[start : self.pos]

    def conditions(self) -> list[Condition]:
        found = self.call()
        self.skip_spaces()
        while self.peek() == ",":
            self.pos += 1
            found += self.call()
            self.skip_spaces()
        return found

    def call(self) -> list[Condition]:
        op = self.word()
        self.expect("(")
        if op == "and":
            found = self.conditions()
            self.expect(")")
            return found
        if op in ("or", "not"):
            raise invalid(f"Invalid filter provided: the operator '{op}' is not supported")
        field = self.word()
        self.skip_spaces()
        value: Any = None
        if op == "has":
            self.expect(")")
            return [Condition(op, field, None)]
        self.expect(",")
        value = self.value(allow_list=True)
        self.expect(")")
        return [Condition(op, field, value)]

    def value(self, *, allow_list: bool) -> Any:
        self.skip_spaces()
        char = self.peek()
        if char == "[" and allow_list:
            self.pos += 1
            items: list[Any] = []
            self.skip_spaces()
            if self.peek() == "]":
                self.pos += 1
                return items
            while True:
                items.append(self.value(allow_list=False))
                self.skip_spaces()
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.expect("]")
                return items
        if char in ("'", '"'):
            end = self.text.find(char, self.pos + 1)
            if end < 0:
                raise self.fail("unterminated string")
            text = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return _Quoted(text)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",()[]":
            self.pos += 1
        return _literal(self.text[start : self.pos].strip(), self)


def _literal(raw: str, parser: _Parser) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    try:
        return int(raw) if raw.lstrip("-").isdigit() else float(raw)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise parser.fail(f"{raw!r} is not a value (quote strings)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _Moment(int(when.timestamp()))


def parse(text: str | None, operation: str) -> list[Condition]:
    """The conditions of a `filter` parameter, each checked against what `operation` allows
    (FILTERS); anything else raises Klaviyo's 400."""
    if not text:
        return []
    if text.count("(") > MAX_DEPTH:
        raise invalid(f"Invalid filter provided: more than {MAX_DEPTH} operations")
    parser = _Parser(text)
    found = parser.conditions()
    parser.skip_spaces()
    if parser.pos != len(text):
        raise parser.fail("unexpected text")
    allowed = FILTERS.get(operation, {})
    for c in found:
        spec = allowed.get(c.field)
        if spec is None:
            raise invalid(f"Invalid filter provided: '{c.field}' is not a filterable field here")
        ops = spec.none if c.value is None and c.op == "has" else (
            spec.list if isinstance(c.value, list) else spec.single
        )  # fmt: skip
        if c.op not in ops:
            shape = "a list" if isinstance(c.value, list) else "a single value"
            if c.op == "has":
                shape = "no value"
            raise invalid(
                f"Invalid filter provided: '{c.op}' with {shape} is not supported for '{c.field}'"
            )
        for item in c.value if isinstance(c.value, list) else [c.value]:
            _check_kind(c, spec.kind, item)
    return found


def _check_kind(c: Condition, kind: str, item: Any) -> None:
    if c.op == "has":
        return
    ok = {
        "string": isinstance(item, _Quoted),
        "date-time": isinstance(item, _Moment),
        "number": isinstance(item, int | float) and not isinstance(item, bool | _Moment),
        "boolean": isinstance(item, bool),
    }[kind]
    if not ok:
        hint = " (datetimes are not quoted)" if kind == "date-time" else ""
        raise invalid(
            f"Invalid filter provided: {c.op}({c.field}) needs a {kind} value, got {item!r}{hint}"
        )


def matches(c: Condition, actual: Any) -> bool:
    """Whether a record whose `c.field` holds `actual` (a value, None, or a list of values for
    a to-many field, any of which may match) passes `c`."""
    values = actual if isinstance(actual, list) else [actual]
    if c.op == "has":
        return any(v is not None for v in values)
    if isinstance(c.value, list):
        wanted = set(c.value)
        return any(v in wanted for v in values)
    if c.op == "equals":
        return any(v == c.value for v in values)
    if c.op == "contains":
        return any(isinstance(v, str) and c.value in v for v in values)
    if c.op == "starts-with":
        return any(isinstance(v, str) and v.startswith(c.value) for v in values)
    if c.op == "ends-with":
        return any(isinstance(v, str) and v.endswith(c.value) for v in values)
    compare = _COMPARE[c.op]
    return any(v is not None and compare(v, c.value) for v in values)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "greater-than": operator.gt,
    "greater-or-equal": operator.ge,
    "less-than": operator.lt,
    "less-or-equal": operator.le,
}


def apply(
    conditions: Iterable[Condition],
    items: list[T],
    fields: Mapping[str, Callable[[T], Any]],
    *,
    folded: frozenset[str] = frozenset(),
) -> list[T]:
    """The items passing every condition; `fields` reads a field of an item. Fields in `folded`
    compare case-insensitively with surrounding spaces ignored (e-mails)."""
    for c in conditions:
        read = fields.get(c.field)
        if read is None:  # allowed by the document, not modelled here: say so, never ignore it
            raise invalid(f"Invalid filter provided: the sandbox does not model '{c.field}'")
        if c.field in folded:
            c = Condition(c.op, c.field, _fold(c.value))
            items = [i for i in items if matches(c, _fold(read(i)))]
        elif c.op in _COMPARE:  # the hot path (events by time): one C comparison an item
            compare, bound = _COMPARE[c.op], c.value
            items = [
                i
                for i in items
                if (v := read(i)) is not None
                and (matches(c, v) if isinstance(v, list) else compare(v, bound))
            ]
        else:
            items = [i for i in items if matches(c, read(i))]
    return items


def _fold(value: Any) -> Any:
    if isinstance(value, list):
        return [_fold(v) for v in value]
    return value.strip().lower() if isinstance(value, str) else value


__all__ = ["FILTERS", "Condition", "Field", "apply", "invalid", "matches", "parse"]
