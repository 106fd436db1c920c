"""One helper for every dialect's conformance tests: call a sandbox route and validate the
answer against the vendor document's response schema for that operation.

`Document` wraps one vendor document (../shared/specs): Zendesk's and Klaviyo's OpenAPI 3.0,
LiveAgent's reconstructed Swagger 2.0. `Document.operation(method, path)` finds the operation of
a sandbox route template (placeholder names aside, the document's basePath added), and
`Operation.check(response)` asserts the status is documented and validates the JSON body with
openapi-schema-validator's read validator (responses: readOnly allowed, writeOnly not), formats
checked. Two readings of the documents, the way their own generated clients read them:
* `oneOf` is read as `anyOf`: the documents list alternatives that overlap without a
  discriminator (Klaviyo's Email/SMS/Push `SendOptions` are one schema three times), which no
  answer could match exactly once; the answer must still be one of the documented shapes;
* `nullable: true` beside `oneOf` admits null (OAS 3.0 ties `nullable` to `type`; the documents
  mean "or null").
Where a document is wrong about what the vendor answers, AS_ANSWERED corrects it, each
correction with its evidence (a recorded answer in ../shared/specs/<vendor>/samples, or the
vendor's behaviour as its guides describe it); tests/sandbox/test_oas.py checks the recorded ones.
The reconstructed LiveAgent document declares no nullability (it was read off a generated client
that accepts None everywhere, see its `x-reconstruction`), so there every property may be null;
its `date-time` is the generator's type for LiveAgent's wire dates, `YYYY-MM-DD HH:MM:SS` (what
the generated client parses; the document's known gaps say so), so that is the format checked.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import FormatChecker

validator_module = pytest.importorskip(
    "openapi_schema_validator", reason="openapi-schema-validator (the dev extra) validates answers"
)

SPECS = {
    "zendesk": "zendesk/support-oas.yaml",
    "klaviyo": "klaviyo/stable.json",
    "liveagent": "liveagent/liveagent-v3.reconstructed.swagger.json",
}
_PLACEHOLDER = re.compile(r"\{[^}]+\}")
_WALL_CLOCK = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def _shape(path: str) -> str:
    return _PLACEHOLDER.sub("{}", path.removesuffix(".json"))


def _find(relative: str) -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "specs" / relative
        if candidate.exists():
            return candidate
    return None


_NULL = {"nullable": True}
_UNSET = "Zendesk answers null where nothing was set (its examples of empty objects)"
_USER_UNSET = ("organization_id", "phone", "photo", "shared_phone_number")
_STAFF_UNSET = ("alias", "default_group_id", "details", "last_login_at", "notes", "signature")
AS_ANSWERED: dict[str, dict[str, tuple[dict[str, Any], str]]] = {
    "zendesk": {
        "TicketObject/properties/recipient": (
            _NULL,
            "samples/zenpy_list_tickets_cursor_page1.json",
        ),
        "TicketObject/properties/forum_topic_id": (
            _NULL,
            "samples/zenpy_list_tickets_cursor_page1.json",
        ),
        "TicketObject/properties/type": (
            {"nullable": True, "enum": ["problem", "incident", "question", "task", None]},
            "samples/zenpy_update_ticket_put.json",
        ),
        "TicketObject/properties/priority": (
            {"nullable": True, "enum": ["urgent", "high", "normal", "low", None]},
            "samples/zenpy_update_ticket_put.json",
        ),
        "TicketObject/properties/status": (
            {"enum": ["new", "open", "pending", "hold", "solved", "closed", "deleted"]},
            "developer.zendesk.com/documentation/ticketing/managing-tickets/"
            "using-the-incremental-export-api (deleted tickets: status deleted)",
        ),
        "TicketObject/properties/satisfaction_rating": (
            _NULL,
            "samples/zenpy_list_tickets_cursor_page1.json",
        ),
        **{
            f"TicketMetricTimeObject/properties/{name}": (
                _NULL,
                "samples/airbyte_ticket_metric_single.json",
            )
            for name in ("business", "calendar")
        },
        "TicketMetricsByTicketMetricIdResponse/properties/ticket_metric": (
            {
                "type": "object",
                "items": None,
                "allOf": [{"$ref": "#/components/schemas/TicketMetricObject"}],
            },
            "samples/airbyte_ticket_metric_single.json (one object, not the document's array)",
        ),
        "TicketFieldValueInput/properties/value": (
            _NULL,
            "an unset custom field is {id, value: null} (the output reuses the input schema)",
        ),
        **{
            f"{schema}/properties/{name}": (_NULL, f"{_UNSET}: a user's unset details")
            for schema, names in (
                ("UserForEndUser", _USER_UNSET),
                ("UserForAdmin", (*_USER_UNSET, *_STAFF_UNSET)),
            )
            for name in names
        },
        **{
            f"TicketMetricObject/properties/{name}": (
                _NULL,
                "samples/airbyte_ticket_metric_single.json",
            )
            for name in ("solved_at", "assigned_at", "assignee_updated_at", "initially_assigned_at")
        },
        "TicketFieldObject/properties/agent_description": (_NULL, _UNSET),
        **{
            f"SatisfactionRatingObject/properties/{name}": (
                _NULL,
                "an offered or unoffered rating has no comment and no reason yet",
            )
            for name in ("comment", "reason", "reason_code", "reason_id")
        },
    },
}
"""dialect -> path under components/schemas -> (keys to set, None removes one; evidence)."""


def _correct(root: dict[str, Any], dialect: str) -> None:
    for pointer, (keys, _) in AS_ANSWERED.get(dialect, {}).items():
        node = root["components"]["schemas"]
        for part in pointer.split("/"):
            node = node[part]
        for key, value in keys.items():
            if value is None:
                node.pop(key, None)
            else:
                node[key] = value


def _as_clients_read(node: Any) -> None:
    """oneOf as anyOf, nullable beside it admitting null (the module docstring's readings)."""
    if isinstance(node, dict):
        if "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
        if node.get("nullable") and "anyOf" in node and "type" not in node:
            node["anyOf"].append({"enum": [None]})
        for value in node.values():
            _as_clients_read(value)
    elif isinstance(node, list):
        for value in node:
            _as_clients_read(value)


def _nullable_everywhere(node: Any) -> None:
    """Swagger 2.0 has no `nullable`: let every property of every schema be null."""
    if isinstance(node, dict):
        for prop in (node.get("properties") or {}).values():
            if isinstance(prop, dict):
                if "$ref" in prop:  # a $ref's siblings are ignored: wrap it
                    ref = prop.pop("$ref")
                    prop["allOf"] = [{"$ref": ref}]
                prop["nullable"] = True
        for value in node.values():
            _nullable_everywhere(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_everywhere(value)


@cache
def document(dialect: str) -> Document:
    """The vendor document of a dialect (skips the test when it is not beside the checkout)."""
    path = _find(SPECS[dialect])
    if path is None:
        pytest.skip(f"shared/specs/{SPECS[dialect]} is not beside the repository")
    raw: dict[str, Any]
    if path.suffix == ".yaml":
        from tests.connectors.test_zendesk_spec import _load_spec

        raw = _load_spec()
    else:
        raw = json.loads(path.read_text(encoding="utf-8"))
    return Document(dialect, raw)


@dataclass
class Document:
    dialect: str
    raw: dict[str, Any]

    def __post_init__(self) -> None:
        self.swagger2 = "swagger" in self.raw
        self.base = self.raw.get("basePath", "") if self.swagger2 else ""
        self._root = copy.deepcopy(
            {
                "components": self.raw.get("components", {}),
                "definitions": self.raw.get("definitions", {}),
            }
        )
        if self.swagger2:
            _nullable_everywhere(self._root["definitions"])
        _correct(self._root, self.dialect)
        _as_clients_read(self._root)
        self.formats = validator_module.oas30_format_checker
        if self.swagger2:
            self.formats = FormatChecker()
            self.formats.checkers = dict(validator_module.oas30_format_checker.checkers)
            self.formats.checks("date-time")(
                lambda v: not isinstance(v, str) or bool(_WALL_CLOCK.fullmatch(v))
            )
        self._ops: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        for template, item in self.raw["paths"].items():
            for method, op in item.items():
                if method in ("get", "put", "post", "patch", "delete"):
                    key = (method.upper(), _shape(self.base + template))
                    self._ops[key] = (template, {**op, "_shared": item.get("parameters", [])})

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.raw
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation of a sandbox route template ("/api/v2/tickets/{id}"), or None."""
        found = self._ops.get((method, _shape(path)))
        if found is None:
            return None
        template, op = found
        return Operation(self, method, template, op)

    def operations(self) -> Iterator[Operation]:
        for (method, _), (template, op) in self._ops.items():
            yield Operation(self, method, template, op)

    def validator(self, schema: dict[str, Any]) -> Any:
        schema = copy.deepcopy(schema)
        _as_clients_read(schema)
        root = {**self._root, **schema}
        return validator_module.OAS30ReadValidator(root, format_checker=self.formats)


@dataclass
class Operation:
    doc: Document
    method: str
    path: str  # the document's template
    raw: dict[str, Any]

    @property
    def query(self) -> dict[str, dict[str, Any]]:
        """The query parameters the operation declares, by name, resolved."""
        out = {}
        for item in [*self.raw["_shared"], *self.raw.get("parameters", [])]:
            param = self.doc.resolve(item)
            if param.get("in") == "query":
                out[param["name"]] = param
        return out

    def schema(self, status: int) -> dict[str, Any] | None:
        """The documented body schema of an answer with this status (None: no body documented)."""
        responses = self.raw.get("responses", {})
        answer = responses.get(str(status)) or responses.get("default")
        assert answer is not None, f"{self.method} {self.path}: status {status} not documented"
        answer = self.doc.resolve(answer)
        if self.doc.swagger2:
            found: dict[str, Any] | None = answer.get("schema")
            return found
        for media, content in (answer.get("content") or {}).items():
            if "json" in media and "schema" in content:
                schema: dict[str, Any] = content["schema"]
                return schema
        return None

    def check(self, response: httpx.Response) -> Any:
        """The answer's JSON body, after validating it against the documented schema."""
        schema = self.schema(response.status_code)
        if schema is None:
            return None
        body = response.json()
        errors = sorted(
            self.doc.validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path)
        )
        where = f"{self.method} {response.request.url}"
        assert not errors, f"{where}: not the document's schema:\n" + "\n".join(
            _explain(e) for e in errors[:8]
        )
        return body


def _explain(error: Any) -> str:
    """Where and why, down to the closest alternative of an anyOf."""
    from jsonschema.exceptions import best_match

    while error.context:
        error = best_match(error.context)
    return f"  at {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message[:300]}"


def checked(
    doc: Document, client: httpx.Client, method: str, template: str, url: str, **kw: Any
) -> Any:
    """Call `url` (a route of `template`) and return its validated body; the answer must be 2xx."""
    op = doc.operation(method, template)
    assert op is not None, f"{method} {template} is not in the {doc.dialect} document"
    response = client.request(method, url, **kw)
    assert response.is_success, (
        f"{method} {response.request.url}: {response.status_code} {response.text[:500]}"
    )
    return op.check(response)
