"""The Zendesk dialect's exports: the cursor-based ticket and user exports, the time-based
exports (ticket events, ticket metric events, Talk calls, Chat chats) and the cursor-paginated
satisfaction ratings and metric events (pages.stream_page: the document's cursor pages, page[before]
included). Shapes and paging rules: sandbox.zendesk's docstring."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from deskpulse.sandbox import streams
from deskpulse.sandbox.streams import Peekable, Record
from deskpulse.sandbox.wire import CHUNK, JSONArray, Request, Response
from deskpulse.sandbox.zendesk import pages, render, render_channels
from deskpulse.sandbox.zendesk.common import APIBase, b64, bad, int_arg, time_arg
from deskpulse.sandbox.zendesk.pages import Key


class _Deferred(Iterator[Record]):
    """Iterates what `fetch()` returns, calling it only when first needed (after the merge)."""

    def __init__(self, fetch: Callable[[], list[Record]]) -> None:
        self._fetch = fetch
        self._it: Iterator[Record] | None = None

    def __next__(self) -> Record:
        if self._it is None:
            self._it = iter(self._fetch())
        return next(self._it)


class Exports(APIBase):
    # ---- tickets (cursor export) --------------------------------------------------------

    def _tickets_position(self, start_time: int) -> int:
        a = self.account
        j = a.first_ticket_at(start_time)
        if j < a.n_tickets:
            return j
        tail, _latest = self.writes.changes()
        return a.n_tickets + bisect.bisect_left(tail, start_time, key=lambda e: e[0])

    def _export_tickets(
        self,
        pos: int,
        with_metric_sets: bool,
        changes: tuple[list[tuple[int, int]], dict[int, int]],
    ) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """(position after it, ticket id, its JSON) of each ticket from export position `pos`:
        generated tickets in generated_timestamp order, then the writes' change log (`changes`,
        WriteLog.changes), where a ticket shows at its latest change only (its state now, once).
        A position never moves: a cursor resumes after the last change it was given."""
        a = self.account
        overrides = self.writes.overrides
        tail, latest = changes
        end = a.n_tickets + len(tail)
        base = self.base_url
        while pos < end:
            if pos < a.n_tickets:
                tid = pos + 1
                if tid in latest:  # served from the tail instead
                    pos += 1
                    continue
                t = a.ticket(pos, story=False)  # the export shows no audits, no metric events
                d = render.ticket_json(t, base)
            else:
                _ts, tid = tail[pos - a.n_tickets]
                if latest.get(tid) != pos - a.n_tickets:  # changed again later (or cleared)
                    pos += 1
                    continue
                t = a.ticket(tid - 1, story=False)
                d = render.ticket_json(t, base, overrides.get(tid))
            pos += 1
            if with_metric_sets:  # embedded in the ticket, as the live API answers
                d["metric_set"] = render.metric_set_json(t, base)
            yield pos, tid, d

    def h_tickets_cursor(self, req: Request, _: dict[str, str]) -> Response:
        per_page = int_arg(req, "per_page", 1000, 1, 1000)
        include = set((req.arg("include") or "").split(","))
        exclude_deleted = (req.arg("exclude_deleted") or "").lower() == "true"
        cursor = req.arg("cursor")
        changes = self.writes.changes()
        end = self.account.n_tickets + len(changes[0])
        if cursor:
            # Past the end: a cursor of an earlier run of the sandbox (its writes are gone);
            # it goes on from the end, so the changes of this run are not skipped.
            first = self._decode_pos(cursor)
            pos = min(first, end)
        elif req.arg("start_time") is not None:
            pos = first = self._tickets_position(time_arg(req, "start_time"))
        else:
            raise bad("start_time or cursor is required")
        tickets = JSONArray()
        last_ts, last_id = 0, 0
        for after, tid, d in self._export_tickets(pos, "metric_sets" in include, changes):
            pos, last_ts, last_id = after, d["generated_timestamp"], tid
            if not (exclude_deleted and d["status"] == "deleted"):
                tickets.append(d)
                if len(tickets) >= per_page:
                    break
        else:
            pos = max(pos, end)  # past the superseded changes at the end too
        if pos == first and cursor:
            token = cursor
        else:
            n = self.account.n_tickets
            if last_id == 0 and pos > n:  # only superseded changes passed: name the last one
                last_ts, last_id = changes[0][pos - n - 1]
            elif last_id == 0:
                last_ts = time_arg(req, "start_time")
            token = b64(f"{last_ts}.0||{last_id}|{pos}")
        body: dict[str, Any] = {
            "tickets": tickets,
            "after_url": self.url("/api/v2/incremental/tickets/cursor.json", {"cursor": token}),
            "after_cursor": token,
            "before_url": None,
            "before_cursor": None,
            "end_of_stream": pos >= end,
        }
        return Response.json(200, body)

    def h_tickets_time(self, req: Request, _: dict[str, str]) -> Response:
        """Time-based ticket export: up to per_page tickets from start_time, extended to the
        end of the last one's second; next_page starts at end_time, inclusive (the boundary
        second comes again: dedupe on id)."""
        if req.arg("start_time") is None:
            raise bad("start_time is required")
        start = time_arg(req, "start_time")
        per_page = int_arg(req, "per_page", 1000, 1, 1000)
        include = set((req.arg("include") or "").split(","))
        exclude_deleted = (req.arg("exclude_deleted") or "").lower() == "true"
        tickets = JSONArray()
        last_ts: int | None = None
        eos = True
        pos = self._tickets_position(start)
        rows = self._export_tickets(pos, "metric_sets" in include, self.writes.changes())
        for _pos, _tid, d in rows:
            ts = d["generated_timestamp"]
            if len(tickets) >= per_page and ts != last_ts:
                eos = False
                break
            last_ts = ts
            if not (exclude_deleted and d["status"] == "deleted"):
                tickets.append(d)
        end_time = start if last_ts is None else last_ts
        params = self._next_params(req, end_time, ("include", "per_page", "exclude_deleted"))
        return Response.json(
            200,
            {
                "tickets": tickets,
                "next_page": self.url("/api/v2/incremental/tickets.json", params),
                "count": len(tickets),
                "end_time": end_time,
                "end_of_stream": eos,
            },
        )

    # ---- users --------------------------------------------------------------------------

    def h_users_cursor(self, req: Request, _: dict[str, str]) -> Response:
        a = self.account
        per_page = int_arg(req, "per_page", 1000, 1, 1000)
        cursor = req.arg("cursor")
        if cursor:
            pos = self._decode_pos(cursor)
        elif req.arg("start_time") is not None:
            pos = a.first_user_at(time_arg(req, "start_time"))
        else:
            raise bad("start_time or cursor is required")
        n = a.n_users
        users = JSONArray()
        last_ts = time_arg(req, "start_time")
        last_id = 0
        stop = min(n, pos + per_page)
        base = self.base_url
        for k in range(pos, stop):
            u = a.user(k)
            users.append(render.user_json(u, base))
            last_ts, last_id = u.updated_ts, u.id
        token = cursor if (cursor and not users) else b64(f"{last_ts}.0||{last_id}|{stop}")
        return Response.json(
            200,
            {
                "users": users,
                "after_url": self.url("/api/v2/incremental/users/cursor.json", {"cursor": token}),
                "after_cursor": token,
                "before_url": None,
                "before_cursor": None,
                "end_of_stream": stop >= n,
            },
        )

    # ---- time-based exports -------------------------------------------------------------

    def _time_iter(self, stream: str, extract: streams.Extractor, start: int) -> Peekable:
        it = self._resume.take((stream, start))
        if it is None:
            merged = streams.merged(self.account, extract, start)
            if stream == "ticket_events":  # writes come after every generated event
                merged = itertools.chain(merged, _Deferred(lambda: self.writes.audits_from(start)))
            it = Peekable(merged)
        return it

    def _time_export(
        self,
        req: Request,
        stream: str,
        extract: streams.Extractor,
        default_size: int = 1000,
    ) -> tuple[list[Record], int, bool]:
        """(records, end_time, end_of_stream) for one Zendesk time-based page."""
        raw = req.arg("start_time")
        if raw is None:
            raise bad("start_time is required")
        start = time_arg(req, "start_time")
        per_page = int_arg(req, "per_page", default_size, 1, default_size)
        it = self._time_iter(stream, extract, start)
        recs, eos = streams.time_page(it, per_page)
        end_time = recs[-1][0] if recs else start
        # The next page starts at end_time inclusive: hand it the boundary second again. An
        # exhausted iterator is not kept: a later poll must see writes made in between.
        if not eos:
            it.push_front(streams.last_second(recs))
            self._resume.put((stream, end_time), it)
        return recs, end_time, eos

    @staticmethod
    def _next_params(
        req: Request, end_time: int, keep: tuple[str, ...] = ("per_page",)
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"start_time": end_time}
        for name in keep:
            if req.arg(name):
                params[name] = req.arg(name)
        return params

    def h_ticket_events(self, req: Request, _: dict[str, str]) -> Response:
        path = "/api/v2/incremental/ticket_events.json"
        recs, end_time, eos = self._time_export(req, "ticket_events", streams.audits_of)
        comments = "comment_events" in (req.arg("include") or "").split(",")
        events = JSONArray()
        for lo in range(0, len(recs), CHUNK):
            events.extend(
                [
                    render.ticket_event_json(ref, ts, author, via, children, n, comments)
                    for ts, _, (ref, author, via, children, n) in recs[lo : lo + CHUNK]
                ]
            )
        params = self._next_params(req, end_time, ("include", "per_page"))
        return Response.json(
            200,
            {
                "ticket_events": events,
                "next_page": self.url(path, params),
                "count": len(events),
                "end_time": end_time,
                "end_of_stream": eos,
            },
        )

    def h_metric_events(self, req: Request, _: dict[str, str]) -> Response:
        path = "/api/v2/incremental/ticket_metric_events.json"
        if pages.wants_cursor(req):
            return self._cursor_stream(
                req,
                "ticket_metric_events",
                streams.metric_events_of,
                path,
                "ticket_metric_events",
                lambda rec: render.metric_event_json(*rec[2]),
            )
        recs, end_time, eos = self._time_export(
            req, "ticket_metric_events", streams.metric_events_of
        )
        events = [render.metric_event_json(ref, me, n) for _, _, (ref, me, n) in recs]
        return Response.json(
            200,
            {
                "ticket_metric_events": events,
                "next_page": self.url(path, self._next_params(req, end_time)),
                "count": len(events),
                "end_time": end_time,
                "end_of_stream": eos,
            },
        )

    def h_calls(self, req: Request, _: dict[str, str]) -> Response:
        path = "/api/v2/channels/voice/stats/incremental/calls.json"
        recs, end_time, _eos = self._time_export(req, "calls", streams.calls_of)
        calls = [render_channels.call_json(c) for _, _, c in recs]
        # Talk never returns a null next_page (see module docstring).
        return Response.json(
            200,
            {
                "calls": calls,
                "next_page": self.url(path, self._next_params(req, end_time)),
                "count": len(calls),
                "end_time": end_time,
            },
        )

    def h_chats(self, req: Request, _: dict[str, str]) -> Response:
        path = "/api/v2/chat/incremental/chats"
        if req.arg("start_time") is None:
            raise bad("start_time is required")
        start = time_arg(req, "start_time")
        start_id = req.arg("start_id") or ""
        limit = int_arg(req, "limit", 1000, 1, 1000)
        key = ("chats", start, start_id)
        it = self._resume.take(key)
        if it is None:
            it = Peekable(streams.merged(self.account, streams.chats_of, start))
            if start_id:
                for rec in it:
                    if (rec[0], rec[1]) > (start, start_id):
                        it.push_front([rec])
                        break
        recs, _more = streams.cursor_page(it, limit)
        end_time = recs[-1][0] if recs else start
        end_id = recs[-1][1] if recs else start_id
        self._resume.put(("chats", end_time, end_id), it)
        chats = [render_channels.chat_json(c, self.account) for _, _, c in recs]
        params = {
            "fields": req.arg("fields") or "chats(*)",
            "limit": limit,
            "start_id": end_id,
            "start_time": end_time,
        }
        return Response.json(
            200,
            {
                "chats": chats,
                "next_page": self.url(path, params),
                "count": len(chats),
                "end_time": end_time,
                "end_id": end_id or None,
            },
        )

    # ---- satisfaction ratings (cursor pagination over a time-ordered stream) ------------

    def _cursor_stream(
        self,
        req: Request,
        stream: str,
        extract: streams.Extractor,
        path: str,
        key: str,
        to_json: Callable[[Record], dict[str, Any]],
        accept: Callable[[Record], bool] | None = None,
        extra_params: dict[str, Any] | None = None,
    ) -> Response:
        """Cursor pages of a time-ordered stream (pages.stream_page), between start_time
        (inclusive) and end_time (exclusive) and through `accept`; a forward page's stream is
        kept to serve the next one without starting over."""
        start = time_arg(req, "start_time")
        end = time_arg(req, "end_time", 2**40)
        filt = (extra_params or {}).get("score")

        def records(after: Key | None) -> Peekable:
            if after is not None:
                kept = self._resume.take((stream, start, end, filt, after))
                if kept is not None:
                    return kept
            it = Peekable(streams.merged(self.account, extract, after[0] if after else start))

            def filtered() -> Iterator[Record]:
                for rec in it:
                    if rec[0] >= end:
                        return
                    if after is not None and (rec[0], rec[1]) <= after:
                        continue
                    if accept is None or accept(rec):
                        yield rec

            return Peekable(filtered())

        keep = {n: req.arg(n) for n in ("start_time", "end_time") if req.arg(n) is not None}
        answer, recs, rest = pages.stream_page(
            req,
            lambda params: self.url(path, params),
            key,
            records,
            to_json,
            {**keep, **(extra_params or {})},
        )
        if rest is not None and recs:
            self._resume.put((stream, start, end, filt, (recs[-1][0], recs[-1][1])), rest)
        return answer

    def h_ratings(self, req: Request, _: dict[str, str]) -> Response:
        score = req.arg("score")
        accept: Callable[[Record], bool] | None = None
        if score:
            wanted = {"received": {"good", "bad"}}.get(score, {score})
            valid = {"offered", "unoffered", "good", "bad", "received"}
            if score not in valid:
                raise bad(f"invalid score {score}")

            def accept(rec: Record) -> bool:
                return rec[2][1].score in wanted

        return self._cursor_stream(
            req,
            "satisfaction_ratings",
            streams.ratings_of,
            "/api/v2/satisfaction_ratings.json",
            "satisfaction_ratings",
            lambda rec: render.rating_json(rec[2][0], rec[2][1], self.base_url),
            accept,
            {"score": score} if score else None,
        )
