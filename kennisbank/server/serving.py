"""Running the app where anyone can reach it: uvicorn with every limit decided.

uvicorn sets no deadline for receiving a request (its keep-alive timer is reset by
every byte, so a client that trickles one byte at a time holds a connection for
ever), caps connections only once a request has been read (``limit_concurrency``),
and trusts ``X-Forwarded-*`` from 127.0.0.1 by default. Here:

- :class:`GuardedH11Protocol` gives every request a deadline to arrive whole
  (``REQUEST_TIMEOUT``: headers and body; idle keep-alive time counts too) and
  closes connections beyond ``MAX_CONNECTIONS`` as soon as they are made, below
  the process's open-file limit, so the server keeps accepting;
- forwarded headers are read only from the proxies in ``TRUSTED_PROXIES``
  (none by default);
- :class:`RepeatFilter` lets a repeated log message through once per interval
  with a count, so an attack cannot fill the disk with log lines.

The wrapper over uvicorn's h11 protocol is ours because uvicorn offers no request
deadline (Kludex/uvicorn#157 was closed without one); h11 rather than httptools so
the request's state can be read (``conn.their_state``).
"""

from __future__ import annotations

import logging
import resource
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("kennisbank.server")

#: file descriptors kept free for the database, the site's files and the log
SPARE_FILES = 64


def connection_cap(wanted: int) -> int:
    """``wanted``, lowered to fit the open-file limit of this process."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - SPARE_FILES))


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline per request and a cap on connections."""

    request_timeout: float = 10.0
    max_connections: int = 1000

    _refused = False
    _deadline: Any = None

    @classmethod
    def configured(cls, request_timeout: float, max_connections: int) -> type[GuardedH11Protocol]:
        return type("GuardedH11Protocol", (cls,), {"request_timeout": request_timeout, "max_connections": max_connections})

    def connection_made(self, transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refused = True
            log.warning("refused a connection: %d are open (MAX_CONNECTIONS)", len(self.connections))
            transport.abort()
            return
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._disarm()  # the request is in (or the connection is done): the app may take its time

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection has its own deadline

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.warning("closed a connection that did not send a whole request within %g s (REQUEST_TIMEOUT)", self.request_timeout)
        if self.conn.our_state is h11.IDLE and self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            try:
                self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            except Exception:
                pass
        self.transport.close()


class RepeatFilter(logging.Filter):
    """Lets a message (by its template) through once per ``interval`` seconds; the next
    one that passes says how many were held back."""

    def __init__(self, interval: float = 10.0, clock=time.monotonic):
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self.clock()
        last, held = self._seen.get(key, (float("-inf"), 0))
        if now - last < self.interval:
            self._seen[key] = (last, held + 1)
            return False
        if len(self._seen) > 1000:  # many different messages: forget the old ones
            self._seen.clear()
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self.interval:g} s)"
        return True


def quiet_floods(interval: float = 10.0) -> RepeatFilter:
    """Install one :class:`RepeatFilter` on the loggers an attack can make talk."""
    repeat = RepeatFilter(interval)
    for name in ("asyncio", "uvicorn.error", "kennisbank.server"):
        logging.getLogger(name).addFilter(repeat)
    return repeat
