"""Rain measured since a time, as the planner reads it (`rain_since`), on a real SQLite store."""

import asyncio

from furrow.cloud.planning.inputs import rain_since
from furrow.cloud.storage._reading import Reading
from furrow.cloud.storage.sqlite_store import SqliteReadingStore

HOUR = 3_600_000


def _reading(node: str, measurement: str, seq: int, value: float | None, fault: str | None = None) -> Reading:
    return Reading(site="s1", gateway="gw1", node=node, role="weather", measurement=measurement,
                   unit="mm" if measurement == "rain_mm" else "C", depth_cm=None, channel=None,
                   value=value, fault=fault, seq=seq, ts_ms=seq * HOUR)


def _store(readings: list[Reading]) -> SqliteReadingStore:
    store = SqliteReadingStore(":memory:")
    asyncio.run(store.write(readings))
    return store


def test_a_station_without_a_gauge_does_not_halve_the_rain():
    # w1 has a gauge: 4 + 6 mm; w2 has none and reports air temperature only
    store = _store([_reading("w1", "rain_mm", 1, 4.0), _reading("w1", "rain_mm", 2, 6.0),
                    _reading("w2", "air_temp_c", 1, 21.0), _reading("w2", "air_temp_c", 2, 22.0)])
    assert asyncio.run(rain_since(["w1", "w2"], store, 0, 10 * HOUR)) == 10.0


def test_two_gauges_are_averaged_and_a_dry_gauge_counts_as_zero():
    store = _store([_reading("w1", "rain_mm", 1, 8.0), _reading("w2", "rain_mm", 1, 0.0),
                    _reading("w2", "rain_mm", 2, 0.0)])
    assert asyncio.run(rain_since(["w1", "w2"], store, 0, 10 * HOUR)) == 4.0


def test_no_gauge_or_only_faulted_readings_is_no_measurement():
    store = _store([_reading("w2", "air_temp_c", 1, 21.0), _reading("w3", "rain_mm", 1, None, fault="stuck")])
    assert asyncio.run(rain_since(["w2", "w3"], store, 0, 10 * HOUR)) is None
    assert asyncio.run(rain_since([], store, 0, 10 * HOUR)) is None
