"""What the LiveAgent dialect does not serve of the reconstructed v3 document, in one place.

SORTED_BY: the one `_sortField` a list takes. UNSERVED: the parameters the document declares on a
served route that the route does not read (`name=value`: that value only), with the reason; a
query parameter here answers 400 naming it, never a silently different list (`served`, called
before every handler). tests/sandbox/test_liveagent_conformance.py checks the table against the
document and walks the rest. Filters served: `[[date field, "D>=" | "D>", date]]` on the
SORTED_BY date (common.since), and `{"subject": text}` on tickets; any other column or operator
is a 400.
"""

from __future__ import annotations

from deskpulse.sandbox.dialect import Route
from deskpulse.sandbox.liveagent.common import PREFIX, Fail
from deskpulse.sandbox.wire import Request

SORTED_BY = {
    f"{PREFIX}/tickets": "date_changed",
    f"{PREFIX}/contacts": "date_changed",
    f"{PREFIX}/chats": "date_created",
}
"""The one `_sortField` a list takes: the date it is served in (ascending) and filtered by."""

_RANGE = "_from/_to: the document leaves open whether _to is inclusive; page with _page/_perPage"
_ASCENDING = "lists are served in ascending order only"
_ONE_ORDER = "served in one order (ids ascending)"
_NO_FILTER = "no _filters on this list (a full read each time)"
UNSERVED: dict[tuple[str, str], str] = {
    **{
        (f"{PREFIX}{path}", name): _RANGE
        for path in ("/tickets", "/tickets/{id}/messages", "/agents", "/departments", "/contacts",
                     "/chats")
        for name in ("_from", "_to")
    },
    **{
        (f"{PREFIX}{path}", "_sortDir=DESC"): _ASCENDING
        for path in ("/tickets", "/tickets/history", "/tickets/{id}/messages", "/agents",
                     "/departments", "/contacts", "/calls", "/chats")
    },
    **{
        (f"{PREFIX}{path}", "_sortField"): _ONE_ORDER
        for path in ("/tickets/history", "/tickets/{id}/messages", "/agents", "/departments",
                     "/calls")
    },
    **{
        (f"{PREFIX}{path}", "_filters"): _NO_FILTER
        for path in ("/tickets/{id}/messages", "/agents", "/departments", "/calls")
    },
    (f"{PREFIX}/tickets/history", "Timezone-Offset"): "a header: dates are written in the "
    "account's zone (the dialect's `timezone`), whatever the client's offset",
    (f"{PREFIX}/calls", "Timezone-Offset"): "a header: dates are written in the account's zone",
}  # fmt: skip
"""(route path, parameter) -> why it is not served (see the module docstring)."""


def served(req: Request, route: Route) -> None:
    """The 400 for a parameter or value of UNSERVED (or a _sortField other than SORTED_BY's)."""
    for name in req.query:
        reason = UNSERVED.get((route.path, name))
        if reason is not None:
            raise Fail(400, f"{name} is not supported by the sandbox ({reason})")
    if (req.arg("_sortDir") or "ASC").upper() != "ASC" and "_sortDir" in route.params:
        raise Fail(400, f"_sortDir {req.arg('_sortDir')!r}: {_ASCENDING}")
    field = req.arg("_sortField")
    if field and "_sortField" in route.params and field != SORTED_BY.get(route.path):
        raise Fail(400, f"Unsupported _sortField {field!r}: {SORTED_BY.get(route.path)} only")
