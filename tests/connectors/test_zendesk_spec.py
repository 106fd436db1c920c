"""Every request the Zendesk connector can send, checked against Zendesk's OpenAPI document.

Two checks: the declared table (`streams.ENDPOINTS`: every path and parameter the code can use)
and the requests really sent by a full run against the fixtures. A parameter passes when the
operation declares it (deepObject parameters such as `page` expand to `page[size]`...), or when
the operation's own description documents it (e.g. `include` under "Sideloading", the
`start_time` filter of satisfaction ratings), which the spec does in prose rather than as a
parameter. Talk, Chat and business hours are not in this document: the test asserts they are
still absent (so it notices the day they appear) and that they are flagged `in_spec=False`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deskpulse.connectors.zendesk.endpoints import ENDPOINTS
from tests.connectors.zendesk_fakes import BASE, collect, make_connector, zendesk_router

SPEC = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "zendesk" / "support-oas.yaml"
)

yaml = pytest.importorskip("yaml")


PAGINATION = {"page", "per_page", "page[size]", "page[after]", "page[before]"}
"""Zendesk's two paginations (the API introduction's "Pagination"), where an operation pages."""


@dataclass
class Operation:
    path: str
    method: str
    params: set[str]
    description: str
    operation_id: str | None = None

    def documents(self, name: str) -> bool:
        if name in self.params:
            return True
        if name in PAGINATION and ("page" in self.params or "agination" in self.description):
            return True  # an operation that pages takes Zendesk's pagination parameters
        # Documented in prose: `name`, a table row "| name |", or a Sideloading section.
        if name == "include" and "Sideloading" in self.description:
            return True
        return bool(
            re.search(rf"(`{re.escape(name)}`|\|\s*{re.escape(name)}\s*\|)", self.description)
        )


def _load_spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"spec not found at {SPEC}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(loader):  # type: ignore[misc,valid-type]
        pass

    # One example holds `change: =`, YAML's "value" tag, which safe loaders reject.
    Loader.add_constructor("tag:yaml.org,2002:value", lambda ld, node: ld.construct_scalar(node))
    with SPEC.open(encoding="utf-8") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=Loader)
    return spec


def _resolve(spec: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    ref = obj.get("$ref")
    if not ref:
        return obj
    node: Any = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    resolved: dict[str, Any] = node
    return resolved


def _param_names(spec: dict[str, Any], raw: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for item in raw:
        param = _resolve(spec, item)
        if param.get("in") != "query":
            continue
        name = param["name"]
        names.add(name)
        if param.get("style") == "deepObject":
            schema = param.get("schema") or {}
            variants = schema.get("oneOf") or [schema]
            for variant in variants:
                for prop in variant.get("properties") or {}:
                    names.add(f"{name}[{prop}]")
    return names


@pytest.fixture(scope="module")
def operations() -> dict[tuple[str, str], Operation]:
    spec = _load_spec()
    ops: dict[tuple[str, str], Operation] = {}
    for path, item in spec["paths"].items():
        shared = item.get("parameters") or []
        for method in ("get", "put", "post", "delete", "patch"):
            op = item.get(method)
            if op is None:
                continue
            params = _param_names(spec, shared + (op.get("parameters") or []))
            ops[(method.upper(), path)] = Operation(
                path, method.upper(), params, op.get("description") or "", op.get("operationId")
            )
    return ops


def _match(ops: dict[tuple[str, str], Operation], method: str, path: str) -> Operation | None:
    for (m, template), op in ops.items():
        if m != method:
            continue
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return op
    return None


def test_spec_writes_paths_without_json_suffix(operations):
    assert ("GET", "/api/v2/incremental/tickets/cursor") in operations
    assert ("GET", "/api/v2/incremental/tickets/cursor.json") not in operations
    assert not any(e.path.endswith(".json") for e in ENDPOINTS.values())


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_declared_endpoint_conforms(operations, name):
    endpoint = ENDPOINTS[name]
    op = operations.get((endpoint.method, endpoint.path))
    if not endpoint.in_spec:
        assert op is None, f"{endpoint.path} is in the spec now: name its operation and check it"
        assert endpoint.doc.startswith("developer.zendesk.com/")
        return
    assert op is not None, f"{endpoint.method} {endpoint.path} is not in the spec"
    assert op.operation_id == endpoint.operation
    undocumented = sorted(p for p in endpoint.params if not op.documents(p))
    assert not undocumented, f"{endpoint.path}: parameters not in the spec: {undocumented}"


def test_every_request_sent_conforms(operations):
    router = zendesk_router()
    # a run that also needs the staff lookup: ticket events without the users stream first
    collect(make_connector(router))
    collect(make_connector(router), only={"ticket_events"})
    outside = {
        (e.method, e.path): Operation(e.path, e.method, set(e.params), "")
        for e in ENDPOINTS.values()
        if not e.in_spec
    }
    seen = set()
    assert router.calls, "no requests recorded"
    for call in router.calls:
        request = call.request
        assert str(request.url).startswith(BASE)
        path = request.url.path
        op = _match(operations, request.method, path)
        if op is None:
            extra = _match(outside, request.method, path)
            assert extra is not None, f"{request.method} {path}: neither in the spec nor declared"
            assert set(request.url.params) <= extra.params
            continue
        seen.add(op.path)
        for name in request.url.params:
            assert op.documents(name), f"{request.method} {path}: parameter {name!r} not in spec"
    assert "/api/v2/users" in seen  # the staff lookup was exercised
