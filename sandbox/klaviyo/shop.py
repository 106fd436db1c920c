"""The sandbox account's shop, as Klaviyo sees it: profiles, orders, refunds and engagement.

A pure function of the account (seed, size, anchor), like the help desk in sandbox.data:

* Profiles are the help desk's end-users (about 92% of them: some people only ever contacted
  support), same names and e-mails, plus shoppers who never opened a ticket (one per ten
  end-users). About one e-mail in eight differs in case or surrounding spaces from the help
  desk's, as real integrations write them; matching must normalise.
* Each profile has a life drawn from its own random stream: sign-up, an acquisition channel
  property (referral, ads, organic, or none), email consent, orders ("Placed Order" with
  `$value` and `$event_id`, one "Ordered Product" per line item with the line's share), some
  refunds (full or partial) and cancellations matched by `$event_id`, email opens and clicks,
  site visits, and a few referrals. Customers stop ordering at some point (churn).
* E-mail suppressions (`Shop.suppressions`): unsubscribed profiles are globally suppressed;
  a few subscribed ones bounced or complained (global), or left the newsletter list only.
* Traps: the help desk's bulk-imported end-users placed their first order in one and the same
  second (hundreds of same-second events across page boundaries); one order is dated half a
  year after the anchor (a misconfigured integration), so a cursor must not follow it.

Nothing is random at serving time; writes (profile properties, list subscriptions) are kept in
memory by the dialect.
"""

from __future__ import annotations

import hashlib
import threading
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from deskpulse.sandbox.data import DAY, HOUR, Account, rng_for

METRICS: tuple[tuple[str, str, str], ...] = (
    ("PlcOrd", "Placed Order", "Shopify"),
    ("OrdPrd", "Ordered Product", "Shopify"),
    ("RfdOrd", "Refunded Order", "Shopify"),
    ("CnlOrd", "Cancelled Order", "Shopify"),
    ("FlfOrd", "Fulfilled Order", "Shopify"),
    ("OpnEml", "Opened Email", "Klaviyo"),
    ("ClkEml", "Clicked Email", "Klaviyo"),
    ("RcvEml", "Received Email", "Klaviyo"),
    ("ActSte", "Active on Site", "API"),
    ("RefFrd", "Referred Friend", "API"),
)
"""(metric id, name, integration)."""

NEWSLETTER = "NwsLtr"
"""The account's one list."""

ATTRIBUTION_WINDOW = 5 * DAY
CHANNELS = (("Referral program", 15), ("Google Ads", 25), ("Organic search", 40), (None, 20))
CONSENT = (("SUBSCRIBED", 40), ("NEVER_SUBSCRIBED", 55), ("UNSUBSCRIBED", 5))
FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Emma", "Finn", "Gia", "Hugo", "Ines", "Jan")


def _pick(r: Any, weighted: tuple[tuple[Any, int], ...]) -> Any:
    x = r.random() * sum(w for _, w in weighted)
    for value, weight in weighted:
        x -= weight
        if x < 0:
            return value
    return weighted[-1][0]


@dataclass(frozen=True, slots=True)
class Profile:
    index: int
    id: str
    email: str
    first_name: str
    last_name: str
    created_ts: int
    updated_ts: int
    channel: str | None
    consent: str
    end_user: int | None  # index of the help desk end-user, or None (shop only)


@dataclass(frozen=True, slots=True)
class Event:
    ts: int
    id: str
    metric: str
    profile: int
    properties: dict[str, Any]


@dataclass
class Life:
    events: list[Event] = field(default_factory=list)


class Shop:
    """Profiles and events of the account's shop. Thread-safe; built on first use."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.seed = account.seed
        self.n_end_users = account.n_end_users
        self.n_profiles = account.n_end_users + max(5, account.n_end_users // 10)
        self.import_order_ts = account.start_ts + 10 * DAY + 12 * HOUR
        self._lock = threading.Lock()
        self._profiles: list[Profile] | None = None
        self._events: dict[str, list[Event]] | None = None
        self._keys: dict[str, list[tuple[int, str]]] = {}
        self._by_id: dict[str, Profile] = {}
        self.ids: dict[int, str] = {}  # profile index -> id
        self._email_index: dict[int, list[tuple[int, int, str]]] | None = None

    # ---- profiles ----------------------------------------------------------------------

    def profiles(self) -> list[Profile]:
        """Every profile, in creation order (then id)."""
        self._build()
        assert self._profiles is not None
        return self._profiles

    def profile(self, profile_id: str) -> Profile | None:
        self._build()
        return self._by_id.get(profile_id)

    def _profile(self, k: int) -> Profile | None:
        a = self.account
        r = rng_for(self.seed, "klaviyo-profile", k)
        if k < self.n_end_users:
            if r.random() < 0.08:
                return None  # a support-only customer: no shop profile
            user = a.user(len(a.staff) + k)
            first, _, last = user.name.partition(" ")
            email = user.email
            roll = r.random()
            if roll < 0.06:
                email = email[:1].upper() + email[1:].replace("@example.com", "@Example.com")
            elif roll < 0.125:
                email = f" {email} "
            # Signed up in the shop before (or when) they first wrote to support.
            created = max(a.start_ts - 60 * DAY, user.created_ts - r.randrange(0, 45 * DAY))
            if k < a.n_imported:
                created = user.created_ts  # bulk-imported together with the help desk users
            end_user: int | None = k
        else:
            n = k - self.n_end_users + 1
            first, last = FIRST_NAMES[n % len(FIRST_NAMES)], f"Shopper{n}"
            email = f"shopper{n}@example.com"
            created = a.start_ts + r.randrange(0, max(1, a.anchor_ts - a.start_ts - 30 * DAY))
            end_user = None
        updated = min(a.anchor_ts - HOUR, created + r.randrange(0, 20 * DAY))
        return Profile(
            k,
            f"01JSBX{k + 1:020d}",
            email,
            first,
            last,
            created,
            updated,
            _pick(r, CHANNELS),
            _pick(r, CONSENT),
            end_user,
        )

    # ---- events ------------------------------------------------------------------------

    def events(self, metric: str) -> list[Event]:
        """Every event of a metric, by (datetime, id)."""
        self._build()
        assert self._events is not None
        return self._events.get(metric, [])

    def first_event_at(self, metric: str, ts: int) -> int:
        """Index of the first event of `metric` at or after `ts`."""
        self._build()
        return bisect_left(self._keys.get(metric, []), (ts, ""))

    def life(self, p: Profile) -> list[Event]:
        """One profile's events (any order)."""
        a = self.account
        r = rng_for(self.seed, "klaviyo-life", p.index)
        out: list[Event] = []
        seq = iter(range(1, 1_000_000))

        def add(ts: int, metric: str, **props: Any) -> str:
            event_id = f"4E{metric}{p.index + 1:09d}{next(seq):05d}"
            out.append(Event(ts, event_id, metric, p.index, props))
            return event_id

        end = a.anchor_ts - HOUR
        n_orders = _pick(r, ((0, 22), (1, 25), (2, 18), (3, 13), (4, 9), (6, 8), (9, 5)))
        t = p.created_ts + r.randrange(HOUR, 30 * DAY)
        if p.end_user is not None and p.end_user < a.n_imported and n_orders:
            t = self.import_order_ts  # the imported customers' first orders: one second
        churn_after = r.randrange(1, 10) if r.random() < 0.35 else 99
        for n in range(n_orders):
            if t > end or n >= churn_after:
                break
            order = f"SB{p.index + 1}-{n + 1}"
            value = round(12 + r.random() ** 2 * 240, 2)
            add(t, "PlcOrd", **{"$value": value, "$event_id": order, "$currency_code": "USD",
                                "ItemCount": 1})  # fmt: skip
            lines = 1 + r.below(3)
            for line in range(lines):
                share = round(value / lines, 2)
                add(t, "OrdPrd", **{"$value": share, "$event_id": f"{order}:{line + 1}",
                                    "ProductName": f"Product {r.below(40) + 1}"})  # fmt: skip
            roll = r.random()
            if roll < 0.06:
                add(t + r.randrange(3 * DAY, 20 * DAY), "RfdOrd",
                    **{"$value": value, "$event_id": order})  # fmt: skip
            elif roll < 0.09:
                add(t + r.randrange(3 * DAY, 20 * DAY), "RfdOrd",
                    **{"$value": round(value / 2, 2), "$event_id": order})  # fmt: skip
            elif roll < 0.12:
                add(t + r.randrange(HOUR, 6 * HOUR), "CnlOrd",
                    **{"$event_id": order, "Reason": "customer"})  # fmt: skip
            else:
                add(t + r.randrange(DAY, 4 * DAY), "FlfOrd", **{"$event_id": order})
            t += r.randrange(7 * DAY, 90 * DAY)
        if p.index == 0:  # a misconfigured integration: an order dated half a year ahead
            add(a.anchor_ts + 180 * DAY, "PlcOrd",
                **{"$value": 10.0, "$event_id": "SB1-future", "$currency_code": "USD"})  # fmt: skip
        span = max(1, end - p.created_ts)
        if p.consent == "SUBSCRIBED":
            for _ in range(r.randrange(2, 26)):
                when = p.created_ts + r.randrange(0, span)
                add(when, "RcvEml", Subject="Newsletter")
                if r.random() < 0.55:
                    add(when + r.randrange(60, 2 * DAY), "OpnEml", Subject="Newsletter")
                    if r.random() < 0.3:
                        add(
                            when + r.randrange(2 * DAY, 3 * DAY), "ClkEml", URL="https://shop.test/"
                        )
        for _ in range(r.below(9)):
            add(p.created_ts + r.randrange(0, span), "ActSte", page="/")
        if r.random() < 0.05:
            add(p.created_ts + r.randrange(0, span), "RefFrd", Friend="friend@example.com")
        return [e for e in out if e.ts <= end or e.metric == "PlcOrd"]

    def _build(self) -> None:
        if self._events is not None:
            return
        with self._lock:
            if self._events is not None:
                return
            profiles = [p for k in range(self.n_profiles) if (p := self._profile(k)) is not None]
            profiles.sort(key=lambda p: (p.created_ts, p.id))
            by_metric: dict[str, list[Event]] = {m: [] for m, _, _ in METRICS}
            for p in profiles:
                for e in self.life(p):
                    by_metric[e.metric].append(e)
            for events in by_metric.values():
                events.sort(key=lambda e: (e.ts, e.id))
            self._keys = {m: [(e.ts, e.id) for e in ev] for m, ev in by_metric.items()}
            self._by_id = {p.id: p for p in profiles}
            self.ids = {p.index: p.id for p in profiles}
            self._profiles = profiles
            self._events = by_metric

    # ---- attributions ------------------------------------------------------------------

    def attributions(self, e: Event) -> list[tuple[str, str]]:
        """[(attribution id, attributed e-mail event id)]: a placed order is attributed to the
        profile's latest e-mail open or click in the five days before it (Klaviyo's default
        window); other events to nothing."""
        if e.metric != "PlcOrd":
            return []
        emails = self._emails().get(e.profile, [])
        start = bisect_left(emails, (e.ts - ATTRIBUTION_WINDOW, 0, ""))
        before = [m for m in emails[start:] if m[0] <= e.ts]
        if not before:
            return []
        _, _, attributed = max(before)
        digest = hashlib.blake2b(f"{self.seed}:{e.id}".encode(), digest_size=16).hexdigest()
        return [(digest, attributed)]

    def _emails(self) -> dict[int, list[tuple[int, int, str]]]:
        """profile index -> its e-mail opens and clicks [(ts, rank, id)], sorted."""
        if self._email_index is None:
            index: dict[int, list[tuple[int, int, str]]] = {}
            for rank, metric in enumerate(("OpnEml", "ClkEml")):
                for ev in self.events(metric):
                    index.setdefault(ev.profile, []).append((ev.ts, rank, ev.id))
            for items in index.values():
                items.sort()
            self._email_index = index
        return self._email_index

    # ---- suppressions ------------------------------------------------------------------

    def suppressions(self, p: Profile) -> tuple[list[tuple[str, int]], list[tuple[str, str, int]]]:
        """A profile's global e-mail suppressions [(reason, ts)] and list suppressions
        [(list id, reason, ts)]: every unsubscribed profile is suppressed (UNSUBSCRIBE); of the
        subscribed, about 4% bounced (HARD_BOUNCE), 1.5% complained (SPAM_COMPLAINT) and 5%
        left the newsletter only (a list suppression, still subscribed to marketing)."""
        if p.index < 0:
            return [], []  # created by a subscription job just now
        r = rng_for(self.seed, "klaviyo-suppression", p.index)
        when = min(self.account.anchor_ts - HOUR, p.created_ts + r.randrange(HOUR, 60 * DAY))
        roll = r.random()
        if p.consent == "UNSUBSCRIBED":
            return [("UNSUBSCRIBE", when)], [(NEWSLETTER, "UNSUBSCRIBE", when)]
        if p.consent != "SUBSCRIBED":
            return [], []
        if roll < 0.04:
            return [("HARD_BOUNCE", when)], []
        if roll < 0.055:
            return [("SPAM_COMPLAINT", when)], [(NEWSLETTER, "SPAM_COMPLAINT", when)]
        if roll < 0.105:
            return [], [(NEWSLETTER, "UNSUBSCRIBE", when)]
        return [], []

    # ---- predictive analytics -----------------------------------------------------------

    def predictive(self, p: Profile) -> dict[str, Any]:
        """Klaviyo's predictive analytics, computed from the profile's own history."""
        orders: dict[str, float] = {}
        last = 0
        refunded: set[str] = set()
        for e in self.life(p):
            if e.metric == "PlcOrd" and e.ts <= self.account.anchor_ts:
                orders[e.properties["$event_id"]] = e.properties["$value"]
                last = max(last, e.ts)
            elif e.metric in ("RfdOrd", "CnlOrd"):
                refunded.add(e.properties["$event_id"])
        kept = [v for k, v in orders.items() if k not in refunded]
        historic = round(sum(kept), 2)
        aov = round(historic / len(kept), 2) if kept else 0.0
        idle_days = (self.account.anchor_ts - last) / DAY if last else 365.0
        churn = round(min(0.99, 0.05 + idle_days / 400), 2)
        predicted_orders = round(max(0.0, (1 - churn) * 2.5), 2)
        return {
            "historic_clv": historic,
            "predicted_clv": round(aov * predicted_orders, 2),
            "total_clv": round(historic + aov * predicted_orders, 2),
            "historic_number_of_orders": len(kept),
            "predicted_number_of_orders": predicted_orders,
            "average_days_between_orders": None,
            "average_order_value": aov,
            "churn_probability": churn,
            "expected_date_of_next_order": None,
        }


__all__ = ["METRICS", "NEWSLETTER", "Event", "Profile", "Shop"]
