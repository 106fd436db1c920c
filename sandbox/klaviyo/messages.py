"""The Klaviyo dialect's campaigns, flows and templates (generated in catalogue.py): every
filter and sort of the document, pages of the document's sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deskpulse.sandbox.klaviyo import catalogue, fieldsets, filters
from deskpulse.sandbox.klaviyo.common import KlaviyoBase, fail, json_answer
from deskpulse.sandbox.wire import Request, Response


class Messages(KlaviyoBase):
    def h_campaigns(self, req: Request, params: dict[str, str]) -> Response:
        if not req.arg("filter"):  # required by the document: the channel to list
            raise filters.invalid("A filter on messages.channel is required, e.g. "
                                  "equals(messages.channel,'email').")  # fmt: skip
        return self._catalogue(req, "get_campaigns", catalogue.campaigns(self.account), 100)

    def h_flows(self, req: Request, params: dict[str, str]) -> Response:
        return self._catalogue(req, "get_flows", catalogue.flows(self.account), 50)

    def h_templates(self, req: Request, params: dict[str, str]) -> Response:
        return self._catalogue(req, "get_templates", catalogue.templates(self.account), 10)

    def _catalogue(
        self, req: Request, operation: str, items: list[catalogue.Item], size: int
    ) -> Response:
        """Filter, sort (by any field the item carries, the document's enum) and page."""
        readers = {name: reader(name) for name in filters.FILTERS[operation]}
        sortable = set(items[0].fields)  # every item of a kind carries the same fields
        items = filters.apply(filters.parse(req.arg("filter"), operation), items, readers)
        sort = req.arg("sort")
        if sort is not None:
            name = sort.lstrip("-")
            if name not in sortable:
                raise fail(400, f"Invalid sort field: {sort}")
            items.sort(key=lambda i: (i.fields.get(name) or 0, i.id), reverse=sort[0] == "-")
        page, links = self._page(req, items, size, size)
        data = [
            {
                "type": i.type,
                "id": i.id,
                "attributes": dict(i.attributes),
                "links": {"self": f"{self.base_url}{req.path.rstrip('/')}/{i.id}/"},
            }
            for i in page
        ]
        return json_answer(200, fieldsets.apply(req, operation, {"data": data, "links": links}))


def reader(name: str) -> Callable[[catalogue.Item], Any]:
    return lambda item: item.fields.get(name)
