"""Every request the Klaviyo connector sends, checked against Klaviyo's OpenAPI document
(shared/specs/klaviyo/stable.json, revision 2026-07-15): the operations table with its rate
limits, and the requests of a full run against the fixtures (path, method, parameters, filter
fields and operators the operation allows)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from deskpulse.connectors.klaviyo.api import ENDPOINTS
from deskpulse.connectors.klaviyo.config import DEFAULT_REVISION
from tests.connectors.klaviyo_fakes import FakeKlaviyo, parse_filter
from tests.connectors.zendesk_fakes import collect


def _spec_path() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "specs" / "klaviyo" / "stable.json"
        if candidate.exists():
            return candidate
    return None


@cache
def _spec() -> dict[str, Any]:
    path = _spec_path()
    if path is None:
        pytest.skip("shared/specs/klaviyo/stable.json is not beside the repository")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _operation(method: str, path: str) -> dict[str, Any]:
    op: dict[str, Any] = _spec()["paths"][path][method.lower()]
    return op


def _rate(text: str) -> int:
    return int(text.split("/")[0])


def test_pinned_revision_is_the_spec_revision() -> None:
    assert _spec()["info"]["version"] == DEFAULT_REVISION


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_operations_and_rate_limits_match_the_spec(name: str) -> None:
    declared = ENDPOINTS[name]
    op = _operation(declared.method, declared.path)
    assert op["operationId"] == declared.operation == declared.bucket == name
    limits = op["x-klaviyo-ratelimit"]
    assert (declared.per_second, declared.per_minute) == (
        _rate(limits["burst"]),
        _rate(limits["steady"]),
    )
    assert declared.params <= _parameters(op)


def _parameters(op: dict[str, Any]) -> set[str]:
    names = set()
    for param in op.get("parameters", []):
        if "$ref" in param:
            param = _spec()["components"]["parameters"][param["$ref"].split("/")[-1]]
        if param.get("in") == "query":
            names.add(param["name"])
    return names


def test_every_request_of_a_run_is_in_the_spec() -> None:
    fake = FakeKlaviyo(page_size=2)
    collect(fake.connector(predictive=True))
    assert fake.requests
    for request in fake.requests:
        op = _operation(request.method, request.url.path)
        allowed = _parameters(op)
        for name, value in request.url.params.multi_items():
            assert name in allowed, f"{request.url.path}: {name} not in the spec"
            if name == "filter":
                filters = op["x-klaviyo-filters"]
                for operator, field, argument in parse_filter(value):
                    spec = filters[field]["operators"]
                    assert any(operator in ops for ops in spec.values()), (field, operator)
                    if filters[field].get("value", {}).get("format") == "date-time":
                        assert re.match(r"^\d{4}-\d\d-\d\dT", argument), "datetimes unquoted"
            if name.startswith("additional-fields"):
                enum = next(p for p in op["parameters"] if p.get("name") == name)["schema"][
                    "items"
                ]["enum"]
                assert set(value.split(",")) <= set(enum)
            if name == "sort":
                enum = next(p for p in op["parameters"] if p.get("name") == "sort")["schema"]
                assert value in enum["enum"]
