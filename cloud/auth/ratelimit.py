"""Login attempts limited per user name and per client address. Pure: the clock is passed in.

After `max_failures` failed logins within `window_s` for one key (a name, or
an address) further attempts for that key are refused until the oldest
failure leaves the window, even with the right password, so guessing stays
at `max_failures` per window. A success clears the name's failures. The
login route counts an attempt as failed before checking the password and
forgives it on success, so parallel attempts cannot all pass the check. The
table is bounded: past `max_keys` keys the stalest go first.

The same window limits the pages anyone may open without a token (a published lot, the open
data): there every request counts (`take`), per client address.

It lives in the process: each cloud instance counts on its own.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque


class LoginLimiter:
    def __init__(self, max_failures: int = 5, window_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _live(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, keys: list[str], now: float) -> int | None:
        """Seconds until an attempt for these keys is allowed again, or None when it is allowed now."""
        wait = 0.0
        for key in keys:
            times = self._live(key, now)
            if len(times) >= self.max_failures:
                wait = max(wait, times[len(times) - self.max_failures] + self.window_s - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def take(self, keys: list[str], now: float) -> int | None:
        """Count one request for these keys, or, when they are at the limit, the seconds to wait (not
        counted: a caller told to wait does not push its own wait further out)."""
        wait = self.retry_after(keys, now)
        if wait is None:
            self.failed(keys, now)
        return wait

    def failed(self, keys: list[str], now: float) -> None:
        for key in keys:
            times = self._live(key, now)
            self._failures[key] = times
            self._failures.move_to_end(key)
            times.append(now)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def forgive(self, keys: list[str], at: float) -> None:
        """Take back the failure `failed(keys, at)` counted (the attempt turned out right)."""
        for key in keys:
            times = self._failures.get(key)
            if times is not None and at in times:
                times.remove(at)
                if not times:
                    del self._failures[key]

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
