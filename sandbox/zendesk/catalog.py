"""The Zendesk dialect's account configuration and directory endpoints: ticket fields and forms,
organizations (list and time-based incremental export), tags, macros and SLA policies. Small
fixed tables derived from the generated account (see sandbox.data for the vocabulary); the
organizations are not linked to tickets or users (a sandbox gap: `organization_id` stays null).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from deskpulse.sandbox.data import (
    FIELD_BASE,
    PRIORITIES,
    SLA_POLICY_BASE,
    SLA_TARGET_MINUTES,
    TICKET_FIELDS,
    ts_iso,
)
from deskpulse.sandbox.wire import Request, Response
from deskpulse.sandbox.zendesk.common import APIBase, bad, int_arg, time_arg

ORGANIZATION_BASE = 367_000_000_000
TICKET_FORM_ID = 360_000_000_001  # every generated ticket's ticket_form_id
ORGANIZATIONS = 25
_SYSTEM_FIELDS = (
    ("subject", "Subject"),
    ("description", "Description"),
    ("status", "Status"),
    ("tickettype", "Type"),
    ("priority", "Priority"),
    ("group", "Group"),
    ("assignee", "Assignee"),
)
_MACROS = (
    ("Close and save", "Sets the ticket status to solved"),
    ("Escalate to Technical", "Moves the ticket to the Technical group"),
    ("Ask for a screenshot", "Replies asking the requester for a screenshot"),
)


class Catalog(APIBase):
    _tag_counts: list[dict[str, Any]] | None = None
    _tag_lock = threading.Lock()

    def _created(self) -> str:
        return ts_iso(self.account.start_ts - 300 * 86_400)

    def h_ticket_fields(self, req: Request, _: dict[str, str]) -> Response:
        created = self._created()
        fields: list[dict[str, Any]] = []
        for n, (kind, title) in enumerate(_SYSTEM_FIELDS):
            fid = FIELD_BASE - 100 + n
            fields.append(self._field(fid, kind, title, n + 1, created, system=True))
        for n, (fid, kind, title) in enumerate(TICKET_FIELDS):
            fields.append(self._field(fid, kind, title, 100 + n, created, system=False))
        return self._list(req, "/api/v2/ticket_fields.json", "ticket_fields", fields)

    def _field(
        self, fid: int, kind: str, title: str, position: int, created: str, *, system: bool
    ) -> dict[str, Any]:
        return {
            "url": f"{self.base_url}/api/v2/ticket_fields/{fid}.json",
            "id": fid,
            "type": kind,
            "title": title,
            "raw_title": title,
            "description": "",
            "raw_description": "",
            "position": position,
            "active": True,
            "required": kind == "subject",
            "collapsed_for_agents": False,
            "regexp_for_validation": None,
            "title_in_portal": title,
            "raw_title_in_portal": title,
            "visible_in_portal": system,
            "editable_in_portal": system,
            "required_in_portal": False,
            "tag": None,
            "created_at": created,
            "updated_at": created,
            "removable": not system,
            "key": None,
            "agent_description": None,
        }

    def h_ticket_forms(self, req: Request, _: dict[str, str]) -> Response:
        created = self._created()
        field_ids = [FIELD_BASE - 100 + n for n in range(len(_SYSTEM_FIELDS))]
        field_ids += [fid for fid, _, _ in TICKET_FIELDS]
        form = {
            "url": f"{self.base_url}/api/v2/ticket_forms/{TICKET_FORM_ID}.json",
            "id": TICKET_FORM_ID,
            "name": "Default Ticket Form",
            "raw_name": "Default Ticket Form",
            "display_name": "Default Ticket Form",
            "raw_display_name": "Default Ticket Form",
            "position": 1,
            "active": True,
            "default": True,
            "end_user_visible": True,
            "in_all_brands": True,
            "restricted_brand_ids": [],
            "ticket_field_ids": field_ids,
            "agent_conditions": [],
            "end_user_conditions": [],
            "created_at": created,
            "updated_at": created,
        }
        return self._list(req, "/api/v2/ticket_forms.json", "ticket_forms", [form])

    def _organizations(self) -> list[dict[str, Any]]:
        """ORGANIZATIONS organizations, updated over the account's year, in updated_at order."""
        a = self.account
        span = max(1, a.anchor_ts - a.start_ts)
        out = []
        for n in range(ORGANIZATIONS):
            oid = ORGANIZATION_BASE + n + 1
            created = a.start_ts - (ORGANIZATIONS - n) * 86_400
            updated = a.start_ts + (n * span) // ORGANIZATIONS
            out.append(
                {
                    "url": f"{self.base_url}/api/v2/organizations/{oid}.json",
                    "id": oid,
                    "name": f"Customer Org {n + 1}",
                    "shared_tickets": False,
                    "shared_comments": False,
                    "external_id": f"ORG-{n + 1:04d}",
                    "created_at": ts_iso(created),
                    "updated_at": ts_iso(updated),
                    "domain_names": [f"org{n + 1}.example.com"],
                    "details": "",
                    "notes": "",
                    "group_id": None,
                    "tags": [],
                    "organization_fields": {},
                    "_updated_ts": updated,
                }
            )
        return out

    @staticmethod
    def _public(org: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in org.items() if not k.startswith("_")}

    def h_organizations(self, req: Request, _: dict[str, str]) -> Response:
        orgs = [self._public(o) for o in self._organizations()]
        return self._list(req, "/api/v2/organizations.json", "organizations", orgs)

    def h_incremental_organizations(self, req: Request, _: dict[str, str]) -> Response:
        """Time-based: organizations with updated_at >= start_time, `next_page` from end_time."""
        if req.arg("start_time") is None:
            raise bad("start_time is required")
        start = time_arg(req, "start_time")
        per_page = int_arg(req, "per_page", 1000, 1, 1000)
        orgs = [o for o in self._organizations() if o["_updated_ts"] >= start][:per_page]
        end_time = orgs[-1]["_updated_ts"] if orgs else start
        return Response.json(
            200,
            {
                "organizations": [self._public(o) for o in orgs],
                "next_page": self.url(
                    "/api/v2/incremental/organizations.json", {"start_time": end_time}
                ),
                "count": len(orgs),
                "end_time": end_time,
                "end_of_stream": len(orgs) < per_page,
            },
        )

    def _tags(self) -> list[dict[str, Any]]:
        """Tags by use, counted once over every ticket (most used first)."""
        with self._tag_lock:
            if self._tag_counts is None:
                a = self.account
                counts: Counter[str] = Counter()
                for i in range(a.n_tickets):
                    counts.update(a.ticket(i, custom_fields=False, story=False).tags)
                self._tag_counts = [
                    {"name": name, "count": n}
                    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                ]
            return self._tag_counts

    def h_tags(self, req: Request, _: dict[str, str]) -> Response:
        return self._list(req, "/api/v2/tags.json", "tags", self._tags())

    def h_macros(self, req: Request, _: dict[str, str]) -> Response:
        created = self._created()
        macros: list[dict[str, Any]] = [
            {
                "url": f"{self.base_url}/api/v2/macros/{370_000_000_001 + n}.json",
                "id": 370_000_000_001 + n,
                "title": title,
                "raw_title": title,
                "description": description,
                "active": True,
                "position": n + 1,
                "restriction": None,
                "actions": [],
                "created_at": created,
                "updated_at": created,
            }
            for n, (title, description) in enumerate(_MACROS)
        ]
        return self._list(req, "/api/v2/macros.json", "macros", macros)

    def h_sla_policies(self, _: Request, __: dict[str, str]) -> Response:
        """One policy per priority, with the targets the metric events apply (reply time, and
        resolution at six times that; business hours for low and normal)."""
        created = self._created()
        policies = []
        for n, prio in enumerate(PRIORITIES):
            target = SLA_TARGET_MINUTES[prio]
            business = prio in ("low", "normal")
            pid = SLA_POLICY_BASE + n + 1
            policies.append(
                {
                    "url": f"{self.base_url}/api/v2/slas/policies/{pid}.json",
                    "id": pid,
                    "title": f"{prio.title()} priority SLA",
                    "description": f"Targets for {prio} priority tickets",
                    "position": n + 1,
                    "filter": {
                        "all": [{"field": "priority", "operator": "is", "value": prio}],
                        "any": [],
                    },
                    "policy_metrics": [
                        {
                            "priority": prio,
                            "metric": "first_reply_time",
                            "target": target,
                            "business_hours": business,
                        },
                        {
                            "priority": prio,
                            "metric": "requester_wait_time",
                            "target": target * 6,
                            "business_hours": business,
                        },
                    ],
                    "created_at": created,
                    "updated_at": created,
                }
            )
        return Response.json(
            200,
            {"sla_policies": policies, "next_page": None, "previous_page": None, "count": 4},
        )
