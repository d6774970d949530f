"""Climate normals for the days beyond the weather forecast: each calendar day's normal maximum and
minimum temperature (and, where the source gives it, their standard deviation), as pure functions.

Two honest sources, and no other (Furrow never invents normals):

* **The farm's own history** (`normals_from_history`): the daily Tmax/Tmin its weather nodes measured
  before this season, when every calendar day has measurements from at least `MIN_YEARS` different
  years. Ten, because the WMO Technical Regulations call an average over "any period of at least ten
  years" a *period average*, while a *normal* needs at least three consecutive ten-year periods (WMO
  Climate Data and Monitoring, "Climatological Normals", wmo.int/pages/prog/wcp/wcdmp/GCDS_1.php):
  a farm rarely has thirty years, so Furrow uses its period averages from ten on and says which years.
  Each calendar day pools the days within `WINDOW_DAYS` either side of it (a 15-day window) in every
  year, so ten years give ~150 values a day; the standard deviation is of those values (the window's
  seasonal slope adds a little to it in spring and autumn).
* **Normals the agronomist imports** (`parse_normals_csv`): e.g. a China Meteorological Administration
  or WMO 1991-2020 station's daily normals, in the documented CSV (docs/pests.md): a header with
  ``doy,tmax_c,tmin_c`` and optionally ``tmax_sd_c,tmin_sd_c``, then 365 rows (day of a common year;
  29 February takes 28 February's values) or 366 (day of a leap year). Every bad cell is named by its
  line and column; a file with any is refused whole.

Days are kept on a leap-year calendar (`calendar_day`: 1 March is day 61 in every year).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

MIN_YEARS = 10
WINDOW_DAYS = 7
DAYS = 366
T_RANGE_C = (-70.0, 60.0)
SD_MAX_C = 20.0
COLUMNS = ("doy", "tmax_c", "tmin_c")
SD_COLUMNS = ("tmax_sd_c", "tmin_sd_c")


def calendar_day(d: date) -> int:
    """The day's number on a leap-year calendar, 1-366 (29 February is 60, 1 March 61 in every year)."""
    return date(2000, d.month, d.day).timetuple().tm_yday


@dataclass(frozen=True)
class DayNormal:
    tmax_c: float
    tmin_c: float
    tmax_sd_c: float | None = None
    tmin_sd_c: float | None = None


@dataclass(frozen=True)
class Normals:
    """A site's normal temperature for each calendar day (`days[calendar_day - 1]`) and where it comes from."""

    kind: Literal["farm", "imported"]
    source: str
    days: tuple[DayNormal, ...]
    years: int | None = None
    """Farm history: the fewest different years any calendar day's window drew on."""

    @property
    def has_sd(self) -> bool:
        return all(d.tmax_sd_c is not None and d.tmin_sd_c is not None for d in self.days)

    def on(self, d: date) -> DayNormal:
        return self.days[calendar_day(d) - 1]

    def weather(self, first: date, last: date, sd: float = 0.0) -> Iterator[tuple[date, float, float]]:
        """(day, tmin, tmax) from `first` through `last`, each shifted by `sd` standard deviations (0 without
        a standard deviation); a shifted day whose min would pass its max keeps the normal's order."""
        d = first
        while d <= last:
            n = self.on(d)
            tmin = n.tmin_c + sd * (n.tmin_sd_c or 0.0)
            tmax = n.tmax_c + sd * (n.tmax_sd_c or 0.0)
            yield d, min(tmin, tmax), max(tmin, tmax)
            d += timedelta(days=1)


class NormalsInvalid(ValueError):
    """A normals file with bad cells: `problems` holds (field, value, reason) for each, the field being
    ``rows.<line>.<column>`` (the file's line number, the header being line 1)."""

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(f"{first[0]}={first[1]!r}: {first[2]}" + (f" (and {len(problems) - 1} more)"
                                                                    if len(problems) > 1 else ""))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _number(text: str, field: str, low: float, high: float, problems: list[tuple[str, object, str]]) -> float | None:
    try:
        v = float(text)
    except ValueError:
        problems.append((field, text, "is not a number"))
        return None
    if not math.isfinite(v) or not low <= v <= high:
        problems.append((field, text, f"must be between {low:g} and {high:g}"))
        return None
    return v


def parse_normals_csv(data: bytes, source: str, max_problems: int = 50) -> Normals:
    """An imported normals file (module docstring) -> Normals, or NormalsInvalid naming every bad cell
    (at most `max_problems`)."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise NormalsInvalid([("rows.1", ",".join(header), f"the header lacks {', '.join(missing)} "
                               f"(columns: {','.join(COLUMNS)}[,{','.join(SD_COLUMNS)}])")])
    col = {name: header.index(name) for name in COLUMNS + SD_COLUMNS if name in header}
    problems: list[tuple[str, object, str]] = []
    rows: dict[int, tuple[int, DayNormal]] = {}
    seen: dict[int, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(problems) >= max_problems:
            break

        def cell(name: str, cells: list[str] = cells) -> str:
            i = col[name]
            return cells[i].strip() if i < len(cells) else ""

        at = f"rows.{line}"
        doy = _number(cell("doy"), f"{at}.doy", 1, DAYS, problems)
        if doy is not None and doy != int(doy):
            problems.append((f"{at}.doy", cell("doy"), "must be a whole day of the year"))
            doy = None
        tmax = _number(cell("tmax_c"), f"{at}.tmax_c", *T_RANGE_C, problems)
        tmin = _number(cell("tmin_c"), f"{at}.tmin_c", *T_RANGE_C, problems)
        sds = {}
        for name in SD_COLUMNS:
            if name in col and cell(name) != "":
                sds[name] = _number(cell(name), f"{at}.{name}", 0.0, SD_MAX_C, problems)
        if tmax is not None and tmin is not None and tmin > tmax:
            problems.append((f"{at}.tmin_c", cell("tmin_c"), f"is above tmax_c ({cell('tmax_c')})"))
        if doy is None:
            continue
        if int(doy) in seen:
            problems.append((f"{at}.doy", cell("doy"), f"repeats line {seen[int(doy)]}"))
            continue
        seen[int(doy)] = line
        if tmax is not None and tmin is not None and tmin <= tmax:
            rows[int(doy)] = (line, DayNormal(tmax, tmin, sds.get("tmax_sd_c"), sds.get("tmin_sd_c")))
    if problems:
        raise NormalsInvalid(problems)
    n = len(rows)
    if n not in (365, 366) or set(rows) != set(range(1, n + 1)):
        absent = [d for d in range(1, (366 if n > 365 else 365) + 1) if d not in rows]
        raise NormalsInvalid([("rows", n, "a normals file has every day of the year, 1-365 (a common year) or "
                               f"1-366 (a leap year); missing doy {', '.join(str(d) for d in absent[:10])}"
                               + (" ..." if len(absent) > 10 else ""))])
    if n == 366:
        days = tuple(rows[d][1] for d in range(1, 367))
    else:  # a common year's day k is 1 January + k - 1 of 2001; 29 February takes 28 February's values
        by_cal = {calendar_day(date(2001, 1, 1) + timedelta(days=d - 1)): rows[d][1] for d in range(1, 366)}
        by_cal[60] = by_cal[59]
        days = tuple(by_cal[c] for c in range(1, 367))
    return Normals("imported", source, days)


def normals_from_history(history: Sequence[tuple[date, float, float]], source: str, min_years: int = MIN_YEARS,
                         window_days: int = WINDOW_DAYS) -> tuple[Normals | None, int]:
    """The farm's period averages from its measured (day, tmin, tmax) (module docstring): (normals, the
    fewest years a calendar day's window drew on), or (None, that number) when it is under `min_years`."""
    by_cal: list[list[tuple[int, float, float]]] = [[] for _ in range(DAYS)]
    for d, tmin, tmax in history:
        by_cal[calendar_day(d) - 1].append((d.year, tmin, tmax))
    pools = [[v for k in range(-window_days, window_days + 1) for v in by_cal[(c + k) % DAYS]] for c in range(DAYS)]
    fewest = min(len({y for y, _, _ in pool}) for pool in pools)
    if fewest < min_years:
        return None, fewest
    out = [DayNormal(_mean([p[2] for p in pool]), _mean([p[1] for p in pool]), _sd([p[2] for p in pool]),
                     _sd([p[1] for p in pool])) for pool in pools]
    return Normals("farm", source, tuple(out), years=fewest), fewest


def _mean(v: Sequence[float]) -> float:
    return round(sum(v) / len(v), 2)


def _sd(v: Sequence[float]) -> float:
    m = sum(v) / len(v)
    return round(math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)), 2) if len(v) > 1 else 0.0
