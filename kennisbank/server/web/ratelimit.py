"""A sliding-window limit per client address: in memory on SQLite, in the database on PostgreSQL.

An address is kept only while it has a submission inside the window: after that
it is forgotten (the privacy statement says so). IPv6 addresses count per /64
network, the block one household or server usually has.

With SQLite the server is one process (``kennisbank serve`` refuses ``--workers`` above 1),
so :class:`RateLimiter` keeps the addresses in that process's memory. A store that
several processes share (PostgreSQL) gets :class:`~.shared_state.SharedRateLimiter`
instead (:func:`limiter_for`): the same window, counted in the database under a keyed
hash of the address, so N workers or two instances behind one proxy count as one.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable


def client_key(host: str | None) -> str:
    """The unit the limit counts: the IPv4 address, or the /64 network of an IPv6 address."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class RateLimiter:
    #: answers at once, from memory: asked on the event loop (the shared limiter's is ``True``)
    blocking = False

    def __init__(self, count: int, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.count = count
        self.seconds = seconds
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._next_sweep = clock() + seconds

    def wait(self, key: str) -> int | None:
        """``None`` if ``key`` may submit now, else the seconds to wait; records nothing."""
        now = self.clock()
        hits = self._hits.get(key)
        if not hits:
            return None
        live = [moment for moment in hits if moment > now - self.seconds]
        if len(live) >= self.count:
            return max(1, math.ceil(live[0] + self.seconds - now))
        return None

    def hit(self, key: str) -> int | None:
        """Record one submission from ``key``; ``None`` if allowed, else the seconds to wait."""
        now = self.clock()
        if now >= self._next_sweep:
            self.sweep(now)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        if len(hits) >= self.count:
            return max(1, math.ceil(hits[0] + self.seconds - now))
        hits.append(now)
        return None

    def sweep(self, now: float | None = None) -> None:
        """Forget every address without a submission inside the window."""
        now = self.clock() if now is None else now
        for key in [key for key, hits in self._hits.items() if not hits or hits[-1] <= now - self.seconds]:
            del self._hits[key]
        self._next_sweep = now + self.seconds

    def __len__(self) -> int:
        """How many addresses are remembered now."""
        return len(self._hits)


def limiter_for(limit, store) -> RateLimiter | None:
    """The limiter for ``limit`` (a :class:`~.settings.RateLimit`, or ``None``: off) and ``store``."""
    if limit is None:
        return None
    from kennisbank.server.db.shared_state import SharedRateLimiter

    if store.shared:
        return SharedRateLimiter(store, limit.count, limit.seconds)
    return RateLimiter(limit.count, limit.seconds)
