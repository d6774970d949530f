"""Station tables: CSV rows (as dicts of strings) to typed weather records.

Pure: the caller opens the file. A bad cell raises TableError naming the row
(1-based data row, header is row 1 so the first data row is row 2 as a
spreadsheet shows it), the column and the value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime

from .et0 import DailyWeather, HourlyWeather


class TableError(ValueError):
    """A malformed cell: which row, which column, what value, and why."""

    def __init__(self, row: int, column: str, value: object, reason: str) -> None:
        super().__init__(f"row {row}, column {column!r}: {reason} (got {value!r})")
        self.row = row
        self.column = column
        self.value = value
        self.reason = reason


DAILY_REQUIRED = ("date", "tmin_c", "tmax_c")
DAILY_OPTIONAL = ("rh_min_pct", "rh_max_pct", "rh_mean_pct", "ea_kpa", "tdew_c", "wind_ms", "rs_mj_m2", "sunshine_h")
HOURLY_REQUIRED = ("time", "temp_c")
HOURLY_OPTIONAL = ("rh_pct", "ea_kpa", "wind_ms", "rs_mj_m2")

# physical bounds per column: (low, high)
_BOUNDS = {
    "tmin_c": (-60.0, 60.0), "tmax_c": (-60.0, 65.0), "temp_c": (-60.0, 65.0), "tdew_c": (-70.0, 40.0),
    "rh_min_pct": (0.0, 100.0), "rh_max_pct": (0.0, 100.0), "rh_mean_pct": (0.0, 100.0), "rh_pct": (0.0, 100.0),
    "ea_kpa": (0.0, 10.0), "wind_ms": (0.0, 75.0), "rs_mj_m2": (0.0, 50.0), "sunshine_h": (0.0, 24.0),
}


def check_header(columns: Iterable[str] | None, required: tuple[str, ...]) -> None:
    """Raise TableError (row 1) when a required column is absent."""
    present = set(columns or ())
    for name in required:
        if name not in present:
            raise TableError(1, name, None, "required column is missing from the header")


def _number(row_no: int, row: Mapping[str, str | None], column: str, required: bool) -> float | None:
    raw = row.get(column)
    text = (raw or "").strip()
    if not text:
        if required:
            raise TableError(row_no, column, raw, "a value is required")
        return None
    try:
        value = float(text)
    except ValueError:
        raise TableError(row_no, column, raw, "not a number") from None
    if not math.isfinite(value):
        raise TableError(row_no, column, raw, "not a finite number")
    lo, hi = _BOUNDS.get(column, (-math.inf, math.inf))
    if not lo <= value <= hi:
        raise TableError(row_no, column, raw, f"outside {lo:g}..{hi:g}")
    return value


def row_date(row_no: int, row: Mapping[str, str | None]) -> date:
    """The row's `date` cell as a date."""
    try:
        return date.fromisoformat((row.get("date") or "").strip())
    except ValueError:
        raise TableError(row_no, "date", row.get("date"), "not an ISO 8601 date (YYYY-MM-DD)") from None


def number(row_no: int, row: Mapping[str, str | None], column: str, lo: float, hi: float) -> float | None:
    """An optional numeric cell within lo..hi (None when empty)."""
    raw = row.get(column)
    text = (raw or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise TableError(row_no, column, raw, "not a number") from None
    if not (math.isfinite(value) and lo <= value <= hi):
        raise TableError(row_no, column, raw, f"outside {lo:g}..{hi:g}")
    return value


def daily_row(row_no: int, row: Mapping[str, str | None]) -> DailyWeather:
    """One daily row to DailyWeather."""
    day = row_date(row_no, row)
    tmin = _number(row_no, row, "tmin_c", True)
    tmax = _number(row_no, row, "tmax_c", True)
    assert tmin is not None and tmax is not None
    if tmax < tmin:
        raise TableError(row_no, "tmax_c", row.get("tmax_c"), f"below tmin_c {tmin:g}")
    opt = {c: _number(row_no, row, c, False) for c in DAILY_OPTIONAL}
    return DailyWeather(day=day, tmin_c=tmin, tmax_c=tmax, **opt)


def hourly_row(row_no: int, row: Mapping[str, str | None]) -> HourlyWeather:
    """One hourly row to HourlyWeather; `time` is the END of the hour, ISO 8601 with offset."""
    raw = (row.get("time") or "").strip()
    try:
        end = datetime.fromisoformat(raw)
    except ValueError:
        raise TableError(row_no, "time", row.get("time"), "not an ISO 8601 time") from None
    if end.utcoffset() is None:
        raise TableError(row_no, "time", row.get("time"), "needs a UTC offset, e.g. 2026-07-06T15:00+02:00")
    temp = _number(row_no, row, "temp_c", True)
    assert temp is not None
    opt = {c: _number(row_no, row, c, False) for c in HOURLY_OPTIONAL}
    return HourlyWeather(end=end, temp_c=temp, **opt)


def daily_rows(rows: Iterable[Mapping[str, str | None]]) -> list[DailyWeather]:
    """Every row of a daily table; rows are numbered from 2 (the header is row 1)."""
    return [daily_row(i, r) for i, r in enumerate(rows, start=2)]


def hourly_rows(rows: Iterable[Mapping[str, str | None]]) -> list[HourlyWeather]:
    """Every row of an hourly table, which must be in time order."""
    out: list[HourlyWeather] = []
    for i, r in enumerate(rows, start=2):
        w = hourly_row(i, r)
        if out and w.end <= out[-1].end:
            raise TableError(i, "time", r.get("time"), "not after the previous row's time")
        out.append(w)
    return out
