"""``GET /events``: the change feed as Server-Sent Events (``text/event-stream``).

Wire format (UTF-8, lines end with ``\\n``, a blank line ends each message)::

    id: 42
    event: change
    data: {"eventId":42,"chatId":"a1b2","position":3,"swipe":0,"namespace":"x","keys":["hp"],
           "kind":"changed"}          (on one line)

- Every change is one ``change`` message, message-level (``added``/``changed``/``removed``) and
  chat-level (``new``/``missing``/``renamed``/``shrunk``/``updated``) alike: one listener sees
  them all in order, ``data.kind`` tells which (chat-level ones have null position/swipe/namespace).
- ``: heartbeat`` (a comment) after ``heartbeat`` seconds without any message, so proxies and
  clients can tell a quiet feed from a dead connection.
- ``event: position`` with ``id: N`` and ``data: {"lastEventId":N}``, first on every stream: the
  position it starts after. A client that is cut off before any change arrives resumes from it
  (an ``EventSource`` sends it as ``Last-Event-ID`` by itself), so it misses nothing.
- ``event: reset`` with ``id: N`` and ``data: {"lastEventId":N}``: the requested position cannot
  be replayed (those events are no longer kept, or the id was never issued by this database
  folder's log). Re-read what you cache; the messages that follow are those after N. It carries
  ``id: N`` so an ``EventSource`` that reconnects later resumes from N, not from the stale id.

Event ids come from the event log in the catalog (``sidecar.storage.event_log``): they persist
across restarts and are never reused, so a ``Last-Event-ID`` from an earlier sidecar process gets
exactly the events logged after it (or a reset).

Resume with the ``Last-Event-ID`` header (``EventSource`` sends it when it reconnects) or
``?lastEventId=`` for clients that cannot set headers; the header wins, because ``EventSource``
reconnects to the original URL. Without either the feed starts with changes made after the
request. Filters: ``chatId`` (exact) and ``namespace`` (events of that namespace, plus events that
concern every namespace, i.e. those without one); with ``x-sillytavern-user`` (set by the proxy
plugin) only that user's chats. The stream ends when the hub is closed (server
shutdown).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated

import msgspec
from litestar import Router
from litestar.datastructures import ResponseHeader, State
from litestar.di import NamedDependency, Provide
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Stream

from sidecar.api.operation import GET, operation
from sidecar.errors import InvalidInput
from sidecar.events.hub import EventHub, Reset, StreamItem
from sidecar.ids import MAX_KEY_LENGTH, check_id

EVENT_STREAM = "text/event-stream"
DEFAULT_HEARTBEAT = 15.0
HEARTBEAT = ": heartbeat\n\n"
_EVENT_ID = re.compile(r"[0-9]{1,18}", re.ASCII)


def provide_events(state: State) -> EventHub:
    hub: EventHub = state.events
    return hub


def sse_message(event_id: int, event: str, data: object) -> str:
    """One SSE message; compact JSON never contains a line break, so one ``data:`` line."""
    return f"id: {event_id}\nevent: {event}\ndata: {msgspec.json.encode(data).decode()}\n\n"


def encode(item: StreamItem) -> str:
    if item is None:
        return HEARTBEAT
    if isinstance(item, Reset):
        return sse_message(item.last_id, "reset", {"lastEventId": item.last_id})
    event_id, event = item
    return sse_message(event_id, "change", event.payload(event_id))


def parse_last_event_id(header: str | None, query: str | None) -> int | None:
    """The position to resume after: the header if present, else the query; empty = absent."""
    value = header or query
    if not value:
        return None
    if _EVENT_ID.fullmatch(value) is None:
        raise InvalidInput("Invalid Last-Event-ID (expected a non-negative integer)")
    return int(value)


async def _sse(
    hub: EventHub,
    after: int,
    filters: tuple[str | None, str | None, str | None],
    heartbeat: float,
) -> AsyncIterator[str]:
    namespace, chat_id, user = filters
    # The position first: a client cut off before any change arrives reconnects from it (an
    # EventSource sends its id as Last-Event-ID) and misses nothing saved in between.
    yield sse_message(after, "position", {"lastEventId": after})
    items = hub.stream(
        after=after, namespace=namespace, chat_id=chat_id, user=user, heartbeat=heartbeat
    )
    async with aclosing(items):
        async for item in items:
            yield encode(item)


_NAMESPACE_DOC = "Only events of this namespace, and events that concern every namespace"
_RESUME_DOC = "Resume after this event id (the header wins over the query)"


def _query(name: str, description: str) -> QueryParameter:
    return QueryParameter(name=name, required=False, description=description)


@operation(
    GET,
    "/events",
    "changeFeed",
    media_type=EVENT_STREAM,
    response_description=(
        "An endless text/event-stream: `change` messages (id, JSON data), `reset` messages and "
        "`: heartbeat` comments; see the module documentation for the format"
    ),
    response_headers=[
        ResponseHeader(name="Cache-Control", value="no-cache", description="Never cache"),
        ResponseHeader(name="X-Accel-Buffering", value="no", description="nginx: no buffering"),
    ],
)
def change_feed(
    *,
    events: NamedDependency[EventHub],
    st_user: NamedDependency[str | None],
    state: State,
    namespace: Annotated[str | None, _query("namespace", _NAMESPACE_DOC)] = None,
    chat_id: Annotated[str | None, _query("chatId", "Only events of this chat")] = None,
    last_event_id_query: Annotated[str | None, _query("lastEventId", _RESUME_DOC)] = None,
    last_event_id: Annotated[
        str | None, HeaderParameter(name="last-event-id", required=False, description=_RESUME_DOC)
    ] = None,
) -> Stream:
    """Stream changes as Server-Sent Events; resume with ``Last-Event-ID``."""
    if chat_id is not None:
        check_id(chat_id, "chat")
    if namespace is not None and not 0 < len(namespace) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"Namespace must be 1 to {MAX_KEY_LENGTH} characters")
    after = parse_last_event_id(last_event_id, last_event_id_query)
    heartbeat = float(state.get("events_heartbeat", DEFAULT_HEARTBEAT))
    # The position is fixed here, before the response starts: a client that has the headers
    # misses nothing published afterwards.
    start = events.last_id if after is None else after
    return Stream(
        _sse(events, start, (namespace, chat_id, st_user), heartbeat),
        media_type=EVENT_STREAM,
    )


router = Router(
    "/",
    route_handlers=[change_feed],
    dependencies={"events": Provide(provide_events, sync_to_thread=False)},
)
