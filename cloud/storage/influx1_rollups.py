"""Retention and roll-ups for InfluxDB 1.x: raw points for a while, hourly and daily for years.

Three retention policies hold the data:

  autogen        raw points (the default policy, where writes go); ``raw_days`` or kept forever
  furrow_hourly  per sensor per hour: sum, n (count), min, max of `value`; ``hourly_days``
  furrow_daily   the same per day, rolled up from the hourly ones; kept forever

Two continuous queries fill them as data arrives: they recompute the windows
of the last 2 hours (hourly) and 2 days (daily). A write holding points older
than ``LATE_MS`` (a gateway's backlog after an outage) is rolled up at once
for its nodes and time range (``backfill``), so the roll-ups stay complete.
Because sum and n are kept, a mean over any number of hours or days is exact:
sum(sum) / sum(n), never a mean of means.

Hourly and daily windows that closed before ``CQ_LAG_MS`` are answered from
the roll-ups (a 90-day chart reads ~2,000 hourly points per sensor instead of
~8,600 raw ones); the rest of a range from raw points.
"""

from dataclasses import dataclass

HOURLY, DAILY = "furrow_hourly", "furrow_daily"
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
LATE_MS = HOUR_MS  # points older than this when written are rolled up by the write itself
CQ_LAG_MS = 2 * HOUR_MS  # windows closed before now - this are complete in the roll-ups
# marks of closed windows rolled up again (late readings), for every instance's chart cache (influx1_cache)
CHANGES_POLICY, CHANGES_MEASUREMENT = "furrow_changes", "rollup_changes"


def _q(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Rollups:
    """The InfluxQL that sets up, fills and reads the roll-ups of one database."""

    database: str
    raw_days: int | None = None
    hourly_days: int | None = 5 * 365

    def setup(self) -> list[str]:
        """Statements that make the policies and continuous queries (safe to repeat)."""
        db = _q(self.database)
        hourly = f"{self.hourly_days}d" if self.hourly_days else "INF"
        out = [
            f"CREATE RETENTION POLICY {_q(HOURLY)} ON {db} DURATION {hourly} REPLICATION 1",
            f"ALTER RETENTION POLICY {_q(HOURLY)} ON {db} DURATION {hourly}",
            f"CREATE RETENTION POLICY {_q(DAILY)} ON {db} DURATION INF REPLICATION 1",
            f"CREATE RETENTION POLICY {_q(CHANGES_POLICY)} ON {db} DURATION 1d REPLICATION 1",
        ]
        if self.raw_days:
            out.append(f'ALTER RETENTION POLICY "autogen" ON {db} DURATION {self.raw_days}d SHARD DURATION 1d')
        for name, select in (("furrow_hourly_cq", self._hourly_select(None)),
                             ("furrow_daily_cq", self._daily_select(None))):
            every = "RESAMPLE EVERY 10m FOR 2h" if "hourly" in name else "RESAMPLE EVERY 1h FOR 2d"
            out.append(f"DROP CONTINUOUS QUERY {_q(name)} ON {db}")
            out.append(f"CREATE CONTINUOUS QUERY {_q(name)} ON {db} {every} BEGIN {select} END")
        return out

    def _hourly_select(self, where: str | None) -> str:
        db = _q(self.database)
        cond = f" WHERE {where}" if where else ""
        return (f'SELECT sum("value") AS "sum", count("value") AS "n", min("value") AS "min", '
                f'max("value") AS "max" INTO {db}.{_q(HOURLY)}.:MEASUREMENT FROM {db}."autogen"./.*/'
                f"{cond} GROUP BY time(1h), *")

    def _daily_select(self, where: str | None) -> str:
        db = _q(self.database)
        cond = f" WHERE {where}" if where else ""
        return (f'SELECT sum("sum") AS "sum", sum("n") AS "n", min("min") AS "min", max("max") AS "max" '
                f"INTO {db}.{_q(DAILY)}.:MEASUREMENT FROM {db}.{_q(HOURLY)}./.*/{cond} GROUP BY time(1d), *")

    def backfill(self, start_ms: int, end_ms: int, nodes: list[str] | None = None) -> list[str]:
        """Statements that roll up [start, end] now (hours first, then days), for `nodes` or all."""
        start_h, end_h = start_ms - start_ms % HOUR_MS, end_ms - end_ms % HOUR_MS + HOUR_MS
        start_d, end_d = start_ms - start_ms % DAY_MS, end_ms - end_ms % DAY_MS + DAY_MS
        which = ""
        if nodes:
            which = " AND (" + " OR ".join("\"node\" = '" + n.replace("'", "\\'") + "'" for n in nodes) + ")"
        # one day of hours, thirty days of days per statement: each stays well inside a query timeout
        out = [self._hourly_select(f"time >= {t}ms AND time < {min(end_h, t + DAY_MS)}ms{which}")
               for t in range(start_h, end_h, DAY_MS)]
        out += [self._daily_select(f"time >= {t}ms AND time < {min(end_d, t + 30 * DAY_MS)}ms{which}")
                for t in range(start_d, end_d, 30 * DAY_MS)]
        return out

    def policy_for(self, window_ms: int) -> str | None:
        """The roll-up a window can be answered from (daily, hourly), or None."""
        if window_ms % DAY_MS == 0:
            return DAILY
        if window_ms % HOUR_MS == 0:
            return HOURLY
        return None

    def closed_before_ms(self, now_ms: int, window_ms: int) -> int:
        """Windows that start before this are complete in the roll-ups."""
        edge = now_ms - CQ_LAG_MS
        return edge - edge % window_ms


# each roll-up's own window: a window this long is its points as they are
NATIVE_MS = {HOURLY: HOUR_MS, DAILY: DAY_MS}

# fn -> the expression over a roll-up's fields that gives it exactly
ROLLED = {
    "mean": 'sum("sum") / sum("n")',
    "sum": 'sum("sum")',
    "count": 'sum("n")',
    "min": 'min("min")',
    "max": 'max("max")',
}
