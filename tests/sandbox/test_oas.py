"""The corrections the conformance tests make to a vendor document (oas.AS_ANSWERED) stand on
evidence: a correction citing a recorded answer finds what it claims in that recording."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.sandbox import oas


def _values(node: Any, name: str) -> Iterator[Any]:
    """Every value of key `name` anywhere in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == name:
                yield value
            yield from _values(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value, name)


RECORDED = [
    (dialect, pointer, keys, evidence)
    for dialect, table in oas.AS_ANSWERED.items()
    for pointer, (keys, evidence) in table.items()
    if evidence.startswith("samples/")
]


@pytest.mark.parametrize(("dialect", "pointer", "keys", "evidence"), RECORDED)
def test_a_recorded_correction_is_in_the_recording(dialect, pointer, keys, evidence) -> None:
    spec = oas._find(oas.SPECS[dialect])
    if spec is None:
        pytest.skip("the vendor documents are not beside the repository")
    sample = Path(spec).parent / evidence.split()[0]
    found = list(_values(orjson.loads(sample.read_bytes()), pointer.rsplit("/", 1)[1]))
    assert found, f"{sample.name} has no {pointer}"
    if keys.get("nullable"):
        assert None in found, f"{sample.name}: {pointer} is never null"
    if keys.get("type") == "object":
        assert all(isinstance(v, dict) for v in found)


def test_every_correction_names_a_schema_of_the_document() -> None:
    for dialect, table in oas.AS_ANSWERED.items():
        schemas = oas.document(dialect).raw["components"]["schemas"]
        for pointer, (_, evidence) in table.items():
            node = schemas
            for part in pointer.split("/"):
                assert part in node, f"{dialect}: {pointer}"
                node = node[part]
            assert evidence
