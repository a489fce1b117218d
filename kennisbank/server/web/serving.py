"""Running the app where anyone can reach it: uvicorn with every limit decided.

uvicorn sets no deadline for receiving a request (its keep-alive timer is reset by
every byte, so a client that trickles one byte at a time holds a connection for
ever), caps connections only once a request has been read (``limit_concurrency``),
and trusts ``X-Forwarded-*`` from 127.0.0.1 by default. Here:

- :class:`GuardedH11Protocol` gives every request a deadline to arrive whole
  (``REQUEST_TIMEOUT``: headers and body; idle keep-alive time counts too) and
  closes connections beyond ``MAX_CONNECTIONS`` as soon as they are made, below
  half the process's open-file limit (a file response holds a second descriptor),
  so the server keeps accepting and never runs out of descriptors;
- :class:`ConnectionShares` gives each client address (an IPv6 /64) its share: at most
  ``MAX_CLIENT_CONNECTIONS`` open connections and half of that still sending a
  request, so one client's slow sockets cannot take every connection (slowloris);
  the proxies in ``TRUSTED_PROXIES`` carry everybody's connections and have none;
- forwarded headers are read only from the proxies in ``TRUSTED_PROXIES``
  (none by default);
- :class:`RepeatFilter` lets a repeated log message through once per interval
  with a count, so an attack cannot fill the disk with log lines;
- :func:`run` starts one process, or with ``WORKERS`` (``--workers N``) above 1 on
  PostgreSQL, N processes that share the listening socket (uvicorn's own
  multi-process mode), each with its own app and store, and one outbox worker beside
  them.

Several processes use uvicorn's supervisor (``uvicorn.supervisors.Multiprocess``)
rather than a pre-fork of our own: it binds the socket once and passes it to each
worker, restarts a worker that dies (a SIGKILL too) or stops answering its health
ping, stops the parent when a worker cannot start at all, and restarts them one by one
on SIGHUP. Its workers are spawned, not forked, so each imports the app's factory by
name (``factory``: ``kennisbank.server.app:worker_app``, reading the same environment)
and the protocol's settings must
pickle (:meth:`GuardedH11Protocol.configured` is a ``functools.partial``). The parent
opens the site and the database once first, so a bad setting stops the start with its
message, and migrations run once before any worker; it then runs the outbox worker
(exactly one per database, made by the app: ``outbox``) while uvicorn supervises the rest.

The wrapper over uvicorn's h11 protocol is ours because uvicorn offers no request
deadline (Kludex/uvicorn#157 was closed without one); h11 rather than httptools so
the request's state can be read (``conn.their_state``).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import resource
import socket
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from kennisbank.server.web.ratelimit import client_key

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from kennisbank.server.outbox.worker import WorkerProcess
    from kennisbank.server.settings import Settings

log = logging.getLogger("kennisbank.server")

#: file descriptors kept free for the database, its journal, the log and the listening socket
SPARE_FILES = 64
#: descriptors one connection can hold at once: its socket and the file a response streams
FILES_PER_CONNECTION = 2


def connection_cap(wanted: int) -> int:
    """``wanted``, lowered so that every connection can hold its socket and a file within the open-file limit.

    Below the limit, ``accept()`` never fails with EMFILE. That matters beyond the refused
    client: Python 3.11's accept loop (``selector_events._accept_connection``) goes on
    after an EMFILE for the whole backlog, scheduling a retry for each, and spins."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, (soft - SPARE_FILES) // FILES_PER_CONNECTION))


def trusted(host: str | None, proxies: tuple[str, ...]) -> bool:
    """Whether ``host`` (a peer's address; None on a Unix socket) is one of the ``proxies`` (TRUSTED_PROXIES)."""
    if host is None:
        return "unix" in proxies
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(proxies))


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``proxies`` as networks, parsed once rather than at every connection; "unix" is none."""
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies if proxy != "unix")


class ConnectionShares:
    """Each client's share of the connections: how many it has open, and how many of them are
    still sending a request (or idle between two), per client address (an IPv6 /64).

    One per server process, kept on uvicorn's ``server_state`` (which every protocol
    instance of that server is given), not in a module global."""

    def __init__(self, per_client: int):
        self.per_client = per_client
        self.waiting_per_client = max(1, per_client // 2)
        self.open: Counter[str] = Counter()
        self.waiting: Counter[str] = Counter()

    @classmethod
    def of(cls, server_state: Any, per_client: int) -> ConnectionShares:
        shares = getattr(server_state, "kennisbank_shares", None)
        if shares is None:
            shares = cls(per_client)
            server_state.kennisbank_shares = shares
        return shares

    def refusal(self, client: str) -> str | None:
        """Why a new connection from ``client`` is refused, or None: it gets one."""
        if self.open[client] >= self.per_client:
            return f"{self.open[client]} are open from that client (MAX_CLIENT_CONNECTIONS)"
        if self.waiting[client] >= self.waiting_per_client:
            return f"{self.waiting[client]} from that client have not sent a whole request (MAX_CLIENT_CONNECTIONS / 2)"
        return None

    def opened(self, client: str) -> None:
        self.open[client] += 1

    def closed(self, client: str) -> None:
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]  # a client with none open is forgotten: the counter does not grow

    def wait(self, client: str, waiting: bool) -> None:
        self.waiting[client] += 1 if waiting else -1
        if self.waiting[client] <= 0:
            del self.waiting[client]


def nodelay(transport) -> None:
    """Send small writes at once (``TCP_NODELAY``), as asyncio does for the sockets it makes.

    With ``--workers N`` uvicorn binds the socket itself without naming the protocol
    (``proto`` 0), and asyncio sets ``TCP_NODELAY`` only on sockets whose ``proto`` is TCP:
    the response's headers and body, two writes, then waited for the client's delayed
    ACK, some 40 ms per request (bench: 48 ms for ``GET /`` with 2 workers, 5 ms with 1)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline per request, a cap on connections and each client's share of them."""

    request_timeout: float = 10.0
    max_connections: int = 1000
    max_client_connections: int = 32
    trusted_proxies: tuple[str, ...] = ()

    _refused = False
    _deadline: Any = None
    _client: str | None = None  # the share this connection counts in; None: a trusted proxy's, or refused
    _waiting = False

    def __init__(
        self,
        *args: Any,
        request_timeout: float | None = None,
        max_connections: int | None = None,
        max_client_connections: int | None = None,
        trusted_proxies: tuple[str, ...] = (),
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        if request_timeout is not None:
            self.request_timeout = request_timeout
        if max_connections is not None:
            self.max_connections = max_connections
        if max_client_connections is not None:
            self.max_client_connections = max_client_connections
        self.trusted_proxies = trusted_proxies
        self.shares = ConnectionShares.of(self.server_state, self.max_client_connections)

    @classmethod
    def configured(
        cls, request_timeout: float, max_connections: int, max_client_connections: int = 32, trusted_proxies: tuple[str, ...] = ()
    ) -> functools.partial[GuardedH11Protocol]:
        """What uvicorn's ``http=`` takes: a callable that makes the protocol; a partial, so it
        pickles into the spawned workers of ``--workers N``."""
        return functools.partial(
            cls,
            request_timeout=request_timeout,
            max_connections=max_connections,
            max_client_connections=max_client_connections,
            trusted_proxies=tuple(trusted_proxies),
        )

    def connection_made(self, transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refuse(transport, f"{len(self.connections)} are open (MAX_CONNECTIONS)")
            return
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) and peer else None
        if not trusted(host, self.trusted_proxies):
            client = client_key(host)
            refusal = self.shares.refusal(client)
            if refusal is not None:
                self._refuse(transport, refusal)
                return
            self._client = client
            self.shares.opened(client)
        nodelay(transport)
        super().connection_made(transport)
        self._arm()

    def _refuse(self, transport, why: str) -> None:
        self._refused = True
        log.warning("refused a connection: %s", why)
        transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._disarm()
        if self._client is not None:
            self.shares.closed(self._client)
            self._client = None
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
        """The connection waits for a request: it has ``request_timeout`` to send it, and counts as waiting."""
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expired)
        self._set_waiting(True)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._set_waiting(False)

    def _set_waiting(self, waiting: bool) -> None:
        if self._client is not None and waiting != self._waiting:
            self._waiting = waiting
            self.shares.wait(self._client, waiting)

    def _expired(self) -> None:
        self._deadline = None
        self._set_waiting(False)
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


# Running it


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for ``settings``, the same for one process and for N."""
    return {
        "host": settings.host,
        "port": settings.port,
        "http": GuardedH11Protocol.configured(
            settings.request_timeout, connection_cap(settings.max_connections), settings.max_client_connections, settings.trusted_proxies
        ),
        # X-Forwarded-* only from the proxies named; uvicorn would trust 127.0.0.1 by default
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
        "timeout_keep_alive": min(5, settings.request_timeout),
        "access_log": False,  # the privacy statement promises that no IP address is logged
        "server_header": False,
        "log_level": "info",
    }


def run(settings: Settings, app: ASGIApp, *, factory: str, outbox: WorkerProcess | None = None) -> None:
    """Serve ``app`` in this process, or with ``settings.workers`` above 1, the app that
    ``factory`` (``"module:function"``, imported and called in each spawned worker) makes,
    in that many worker processes, with ``outbox`` (the one outbox worker, if any) supervised
    beside them; ``app`` itself is then not served."""
    import uvicorn

    quiet_floods()
    if settings.workers == 1:
        uvicorn.run(app, **uvicorn_options(settings))
        return
    stop = threading.Event()
    supervisor = threading.Thread(target=outbox.supervise_until, args=(stop,), name="outbox", daemon=True) if outbox else None
    if supervisor is not None:
        supervisor.start()
    try:
        uvicorn.run(factory, factory=True, workers=settings.workers, **uvicorn_options(settings))
    finally:
        stop.set()
        if supervisor is not None:
            supervisor.join()
