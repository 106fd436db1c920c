"""What one Zendesk run learns and shares between its streams: group names and staff roles."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from deskpulse.connectors.errors import RecordError, StreamUnavailable
from deskpulse.connectors.http import BodyCursor, HttpClient
from deskpulse.connectors.zendesk import normalise as nz
from deskpulse.connectors.zendesk import records as zr
from deskpulse.connectors.zendesk.backfill_state import ClosedTickets
from deskpulse.connectors.zendesk.endpoints import ENDPOINTS

log = logging.getLogger(__name__)

LIST_PAGE = 100
"""Records per page of cursor-paginated list endpoints (Zendesk's maximum)."""


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


class Directory:
    """What one run learns and shares between streams: group names and staff roles.

    The trap: ticket events name their author by user id only, and a comment is a *reply* only
    when its author is an agent. The connector cannot read the warehouse, so the users stream
    (which runs first) keeps the account's staff (agents, admins, bots: a few hundred ids) in
    its own cursor: a full read builds the map, each incremental read starts from the stored map
    and applies the users that changed, and every id not in the complete map is an end-user.
    Only when the users stream did not run to its end in this run (filtered out, forbidden, an
    old cursor without the map) is the map incomplete: the first unknown author then loads all
    staff once (`GET /api/v2/users?role[]=agent&role[]=admin`); if that list is unavailable too,
    unknown authors count as customers (and a warning says so). Author -1 is Zendesk's system
    user (triggers, automations): `system`. Bots are agents flagged as bots.
    """

    def __init__(self, client: HttpClient) -> None:
        self._client = client
        self._groups: dict[int, str] | None = None
        self.staff: dict[int, str] = {}
        self.staff_complete = False
        self.closed = ClosedTickets()
        """Closed tickets the tickets stream saw: the ones a backfill reads per ticket."""

    def staff_state(self) -> dict[str, str]:
        """The staff map as JSON for a cursor (ids as text keys)."""
        # a snapshot first: ticket events may fill the map from another thread meanwhile
        return {str(k): v for k, v in list(self.staff.items())}

    def seed_staff(self, state: Any) -> bool:
        """Start from a stored staff map; False when `state` is not one."""
        if not isinstance(state, Mapping):
            return False
        for key, role in state.items():
            uid = as_int(key)
            if uid is not None and role in ("agent", "admin", "bot"):
                self.staff[uid] = role
        return True

    # groups ------------------------------------------------------------------------------
    # Lookups load from `pages()` (ensure_*), never from `normalise`: normalising does no I/O,
    # and a lookup that fails surfaces as the stream's own error.

    def ensure_groups(self, group_ids: Iterable[Any]) -> None:
        """Load the group names once per run, as soon as a record names a group."""
        if self._groups is not None or all(g is None for g in group_ids):
            return
        groups: dict[int, str] = {}
        try:
            for record in list_pages(self._client, "groups", "groups", {}):
                gid = as_int(record.get("id"))
                if gid is not None:
                    groups[gid] = str(record.get("name") or gid)
        except StreamUnavailable as exc:
            log.warning("zendesk: cannot list groups (%s); groups are named by id", exc)
        self._groups = groups

    def group_name(self, group_id: Any) -> str | None:
        """A group's name; its id as text when the group is unknown (deleted, or no list)."""
        if group_id is None:
            return None
        key = as_int(group_id)
        if self._groups is not None and key is not None and key in self._groups:
            return self._groups[key]
        return str(group_id)

    # users -------------------------------------------------------------------------------

    def note_user(self, user_id: Any, role: str) -> None:
        key = as_int(user_id)
        if key is None:
            return
        if role == "end-user":
            self.staff.pop(key, None)
        else:
            self.staff[key] = role

    def author_kind(self, user_id: Any) -> str:
        key = as_int(user_id)
        if key is None or key < 0:
            return "system"
        role = self.staff.get(key)
        if role is None:
            return "customer"
        return "bot" if role == "bot" else "agent"

    def ensure_staff(self) -> None:
        """Make the staff map whole: load all staff once when the users stream did not."""
        if self.staff_complete:
            return
        params = {"role[]": ["agent", "admin"]}
        try:
            for user in list_pages(self._client, "staff", "users", params):
                try:
                    staff = zr.USERS.value(user)
                    role = nz.user_role(staff)
                except RecordError:
                    continue
                self.note_user(staff.id, role)
        except StreamUnavailable as exc:
            log.warning(
                "zendesk: cannot list staff (%s); authors not synced as staff count as customers",
                exc,
            )
        self.staff_complete = True


def list_pages(
    client: HttpClient, endpoint: str, key: str, params: dict[str, Any]
) -> Iterator[Mapping[str, Any]]:
    """Records of a cursor-paginated list endpoint (`meta.has_more`, `meta.after_cursor`)."""
    table = ENDPOINTS[endpoint]
    query = table.query(**params, **{"page[size]": LIST_PAGE})
    paginator = BodyCursor(f"zendesk {endpoint}")
    for page in client.paginate(table.path, query, paginator=paginator, records=key):
        yield from page.records
