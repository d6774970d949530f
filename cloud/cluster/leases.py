"""Each background job on exactly one cloud instance at a time.

The planner, the alert evaluation, command expiry and plan publication must not run on every
instance of a cluster: three instances would plan, alert and publish three times. An instance
runs a job only while it holds the job's lease (`JobLeases.run`).

- `LocalLeases`: one instance (the embedded SQLite default): it holds every lease.
- `PgLeases`: a PostgreSQL session advisory lock per job, taken with ``pg_try_advisory_lock``
  on one connection of the instance's own. The lock lives as long as that connection: when the
  holder dies (killed, crashed, its host gone) PostgreSQL ends its session and frees its locks,
  and the next instance to try takes the job over on its next tick. An instance whose lease
  connection breaks forgets every lease it held before it runs anything again.

The one window left: a holder cut off from PostgreSQL but still running may finish the run it
had started while another instance takes the lease; it starts no further run.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable

import psycopg

log = logging.getLogger(__name__)

LOCK_SPACE = 0x46555252  # "FURR": the first key of every Furrow advisory lock (the second names the job)


def lock_key(job: str) -> int:
    """The advisory lock's second key for `job` (a positive int4, the same on every instance)."""
    return zlib.crc32(job.encode()) & 0x7FFF_FFFF


class JobLeases:
    """Runs a job only while this instance holds its lease; counts the runs (GET /health shows them)."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()

    async def holds(self, job: str) -> bool:
        raise NotImplementedError

    def held(self) -> set[str]:
        raise NotImplementedError

    async def run(self, job: str, step: Callable[[], Awaitable[object]]) -> bool:
        """Run `step` if this instance holds (or can take) the lease of `job`; True when it ran."""
        if not await self.holds(job):
            return False
        self.runs[job] += 1
        await step()
        return True

    async def close(self) -> None:
        return None


class LocalLeases(JobLeases):
    """A single instance holds every lease."""

    def __init__(self) -> None:
        super().__init__()
        self._held: set[str] = set()

    async def holds(self, job: str) -> bool:
        self._held.add(job)
        return True

    def held(self) -> set[str]:
        return set(self._held)


class PgLeases(JobLeases):
    """Leases as PostgreSQL session advisory locks on one connection of this instance."""

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self._dsn = dsn
        self._conn: psycopg.AsyncConnection | None = None
        self._held: set[str] = set()
        self._lock = asyncio.Lock()  # one statement at a time on the connection
        self._failing = False

    def held(self) -> set[str]:
        return set(self._held)

    async def holds(self, job: str) -> bool:
        async with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._held.clear()  # a new session holds nothing
                    self._conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
                if job in self._held:
                    await self._conn.execute("SELECT 1")  # still the session that holds it
                    got = True
                else:
                    cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, lock_key(job)))
                    row = await cur.fetchone()
                    got = bool(row and row[0])
                    if got:
                        self._held.add(job)
                        log.info("this instance now runs the %s job", job)
            except (psycopg.Error, OSError) as e:
                await self._drop(e)
                return False
            if self._failing:
                log.info("job leases: PostgreSQL reachable again")
                self._failing = False
            return got

    async def _drop(self, why: BaseException) -> None:
        if not self._failing:
            log.warning("job leases: PostgreSQL unreachable (%s); running no job until it is back", why)
            self._failing = True
        self._held.clear()
        if self._conn is not None:
            await self._conn.close()
        self._conn = None

    async def close(self) -> None:
        """Give every lease up (the session ends), so another instance takes the jobs over at once."""
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
            self._conn = None
            self._held.clear()
