"""Slow and idle HTTP clients bounded at the connection: header and body read timeouts, a head size limit, and
a connection cap that drops the stalest waiting connection instead of refusing a new one.

uvicorn arms no timer before a request's headers arrive and caps concurrency by answering 503 to every new
request once `limit_concurrency` connections are open, so a few hundred silent sockets lock everyone out. This
protocol (uvicorn's httptools protocol plus timers) gives every connection a deadline while it waits on its
client: `header_timeout_s` from the first byte (or the accept) to the end of the headers, `body_timeout_s` from
there to the end of the body (408 then), `idle_timeout_s` between requests (uvicorn's keep-alive timer). A
request head larger than `max_header_bytes` is answered 431 before it is parsed. When more than
`max_connections` are open, the connection that has waited on its client the longest (idle, in its headers,
or in its body; never-served connections first) is closed to make room; connections whose request is being
processed are never closed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

_HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """What a connection may cost while it waits on its client."""

    header_timeout_s: float = 60.0
    body_timeout_s: float = 60.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 4096


def raw_response(status: int, reason: str, message: str) -> bytes:
    """A complete `Connection: close` HTTP/1.1 answer with a plain-text body."""
    body = message.encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines, a head size limit and a stalest-first connection cap."""

    limits = ClientLimits()
    """Set on a subclass per server (`guarded_protocol`)."""
    queues: tuple[OrderedDict[GuardedHttpToolsProtocol, None], OrderedDict[GuardedHttpToolsProtocol, None]] = (
        OrderedDict(), OrderedDict())
    """Per server: connections never served, then served ones, each in the order they started waiting on their
    client (oldest first), so the cap finds whom to drop in O(1) however many connections are open."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_tail = b""
        self._seen_cycle: object = None
        self.served = False
        """True once a response was sent: an exporter's kept-alive connection, dropped only after unserved ones."""

    # -- state -----------------------------------------------------------------------------------------------
    def _awaiting_head(self) -> bool:
        """True between requests and while a request's headers are arriving."""
        return self.cycle is None or not self.cycle.more_body

    def waiting_on_client(self) -> bool:
        """True when dropping this connection loses no work the collector started: idle, in its head or body."""
        if self.transport is None or self.transport.is_closing():
            return False
        cycle = self.cycle
        if cycle is None:
            return True
        if cycle.more_body:
            return True  # the handler (if any) is still waiting for body bytes
        return cycle.response_complete and not self.pipeline

    # -- asyncio.Protocol --------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Register, make room under the cap, and give the client `header_timeout_s` for its first request."""
        super().connection_made(transport)
        self._touch()
        if len(self.connections) > self.limits.max_connections and not self._evict_stalest():
            self.transport.write(raw_response(503, "Service Unavailable", "too many connections, retry later"))
            self.transport.close()
            return
        self._arm(self.limits.header_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the timer and the queue entry, then uvicorn's own bookkeeping."""
        self._disarm()
        for queue in self.queues:
            queue.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Count head bytes (431 past the limit), feed the parser, then move the deadline to the next stage."""
        if self._awaiting_head():
            if self._deadline is None:  # first byte after an idle keep-alive period
                self._touch()
                self._arm(self.limits.header_timeout_s, self._head_timed_out)
            if self._head_too_large(data):
                self._refuse(431, "Request Header Fields Too Large",
                             f"request head exceeds the limit of {self.limits.max_header_bytes} bytes")
                return
        super().data_received(data)
        self._advance()

    def on_response_complete(self) -> None:
        """The collector is done with the request: now the client's idle time counts (uvicorn's keep-alive)."""
        self.served = True
        self._touch()
        super().on_response_complete()

    # -- internals ---------------------------------------------------------------------------------------------
    def _touch(self) -> None:
        """This connection starts waiting on its client now: move it to the end of its queue."""
        unserved, served = self.queues
        unserved.pop(self, None)
        served.pop(self, None)
        (served if self.served else unserved)[self] = None

    def _head_too_large(self, data: bytes) -> bool:
        room = self.limits.max_header_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            self._head_tail = (self._head_tail + data)[-3:]
            return False
        # More than the room arrived: fine only if the head ends within it (the rest is body or the next request).
        window = self._head_tail + data[:room + 1]
        return window.find(_HEAD_END) < 0

    def _advance(self) -> None:
        """After parsing: a new request's head is complete → body deadline (or none while it is processed)."""
        cycle = self.cycle
        if cycle is None or cycle is self._seen_cycle:
            if cycle is not None and not cycle.more_body and self._deadline is not None and self._in_body:
                self._disarm()  # the body just completed: the request is the collector's now
            return
        self._seen_cycle = cycle
        self._head_bytes, self._head_tail = 0, b""
        self._disarm()
        if cycle.more_body:
            self._arm(self.limits.body_timeout_s, self._body_timed_out)
            self._in_body = True

    _in_body = False

    def _arm(self, delay_s: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay_s, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._in_body = False

    def _head_timed_out(self) -> None:
        self._deadline = None
        if self._head_bytes:
            self._refuse(408, "Request Timeout",
                         f"request headers not received within {self.limits.header_timeout_s:g} s")
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._deadline = None
        self._refuse(408, "Request Timeout", f"request body not received within {self.limits.body_timeout_s:g} s")

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer `status` and close, unless the handler already started an answer (then just close)."""
        self._disarm()
        if self.transport is None or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            if cycle is not None:
                cycle.disconnected = True  # whatever the handler sends later is dropped
            self.transport.write(raw_response(status, reason, message))
        self.transport.close()

    def _evict_stalest(self) -> bool:
        """Close the connection that has waited on its client the longest, preferring ones never served (a client
        that completed a request is likelier an exporter between batches); False when none may be closed.
        Connections found busy with a request leave the queue until their response puts them back."""
        for queue in self.queues:
            while queue:
                conn, _ = queue.popitem(last=False)
                if conn is self:
                    queue[conn] = None
                    if len(queue) == 1:
                        break
                    continue
                if not conn.waiting_on_client():
                    continue
                conn._disarm()
                conn.transport.close()
                self.connections.discard(conn)  # counted out now; connection_lost follows on the next loop turn
                return True
        return False


def guarded_protocol(limits: ClientLimits) -> type[GuardedHttpToolsProtocol]:
    """A protocol class bound to one server's limits (uvicorn instantiates the class it is given)."""
    return type("GuardedHttpProtocol", (GuardedHttpToolsProtocol,),
                {"limits": limits, "queues": (OrderedDict(), OrderedDict())})
