"""`furrow agro`: the agronomy engine offline, on a station's CSV file.

    furrow agro et0 --lat DEG --elevation M [--lon DEG] [--wind-height M] [--timestep daily|hourly] FILE.csv
    furrow agro balance --zone ZONE.toml WEATHER.csv
    furrow agro gdd --base C [--upper C] [--method average|sine] FILE.csv

Each writes its input rows back to stdout with the computed columns added. A
malformed file is reported on stderr naming the row and column, with exit code 2.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

EXIT_BAD_INPUT = 2


class _BadInput(Exception):
    """An input problem to report in one line (no traceback)."""


def register(sub: argparse._SubParsersAction) -> None:
    agro = sub.add_parser("agro", help="agronomy offline: reference ET, water balance, degree days")
    agro_sub = agro.add_subparsers(dest="agro_command", required=True, metavar="COMMAND")

    et0 = agro_sub.add_parser("et0", help="FAO-56 reference evapotranspiration for each row of a station CSV")
    et0.add_argument("--lat", type=float, required=True, help="latitude, degrees (north positive)")
    et0.add_argument("--elevation", type=float, required=True, help="station elevation, m above sea level")
    et0.add_argument("--lon", type=float, default=None, help="longitude, degrees east positive (hourly needs it)")
    et0.add_argument("--wind-height", type=float, default=2.0, help="anemometer height, m (default 2)")
    et0.add_argument("--timestep", choices=("daily", "hourly"), default="daily")
    et0.add_argument("--reference", choices=("fao56", "asce-short"), default="fao56",
                     help="FAO-56 grass or ASCE-EWRI standardized short reference")
    et0.add_argument("--coastal", action="store_true", help="kRs 0.19 instead of 0.16 when Rs is missing")
    et0.add_argument("--tdew-offset", type=float, default=0.0,
                     help="Tdew = Tmin - offset when humidity is missing (0 humid, 2-3 arid)")
    et0.add_argument("--night-rs-rso", type=float, default=0.8,
                     help="Rs/Rso at night before a sunset has been seen (0.8 arid, 0.4-0.6 humid)")
    et0.add_argument("file", type=Path, help="CSV file (see docs/agronomy.md for the columns)")
    et0.set_defaults(func=_et0)

    bal = agro_sub.add_parser("balance", help="FAO-56 daily root-zone water balance of one zone")
    bal.add_argument("--zone", type=Path, required=True, help="zone TOML file (site, soil, crop, irrigation)")
    bal.add_argument("file", type=Path, help="daily weather CSV (et0_mm or the et0 columns; rain_mm, ...)")
    bal.set_defaults(func=_balance)

    gdd = agro_sub.add_parser("gdd", help="growing degree days for each row of a daily CSV")
    gdd.add_argument("--base", type=float, required=True, help="lower threshold, °C")
    gdd.add_argument("--upper", type=float, default=None, help="upper threshold (horizontal cut-off), °C")
    gdd.add_argument("--method", choices=("average", "sine"), default="average")
    gdd.add_argument("file", type=Path, help="CSV with date, tmin_c, tmax_c")
    gdd.set_defaults(func=_gdd)


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


@contextmanager
def _reporting(command: str) -> Iterator[None]:
    """Turn input errors into one line on stderr and exit code 2."""
    from pydantic import ValidationError

    from furrow.cloud.agronomy.tables import TableError

    try:
        yield
    except (_BadInput, TableError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            errors = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            exc = _BadInput(errors)
        print(f"furrow agro {command}: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str | None]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except OSError as exc:
        raise _BadInput(f"{path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _BadInput(f"{path}: not a readable CSV file ({exc})") from None
    for i, row in enumerate(rows, start=2):
        if None in row:
            raise _BadInput(f"{path}: row {i}: more cells than the header has columns")
    return header, rows


def _write(header: list[str], rows: list[dict[str, str | None]], extra: list[str]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=[*header, *[c for c in extra if c not in header]],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _with_file(path: Path, fn: Callable[[], None]) -> None:
    from furrow.cloud.agronomy.tables import TableError

    try:
        fn()
    except TableError as exc:
        raise _BadInput(f"{path}: {exc}") from None


def _et0(args: argparse.Namespace) -> int:
    with _reporting("et0"):
        from furrow.cloud.agronomy import radiation, tables
        from furrow.cloud.agronomy.et0 import Reference, Site, et0_daily_series, et0_hourly_series

        if args.timestep == "hourly" and args.lon is None:
            raise _BadInput("--timestep hourly needs --lon (solar time depends on longitude)")
        site = Site(latitude_deg=args.lat, elevation_m=args.elevation, longitude_deg=args.lon,
                    wind_height_m=args.wind_height, reference=Reference(args.reference),
                    krs=radiation.KRS_COASTAL if args.coastal else radiation.KRS_INTERIOR,
                    tdew_offset_c=args.tdew_offset, night_rs_rso=args.night_rs_rso)
        header, rows = _read_csv(args.file)

        def run() -> None:
            if args.timestep == "daily":
                tables.check_header(header, tables.DAILY_REQUIRED)
                results = et0_daily_series(tables.daily_rows(rows), site)
            else:
                tables.check_header(header, tables.HOURLY_REQUIRED)
                results = et0_hourly_series(tables.hourly_rows(rows), site)
            for row, r in zip(rows, results, strict=True):
                row["et0_mm"] = _fmt(r.et0_mm, 2 if args.timestep == "daily" else 3)

        _with_file(args.file, run)
        _write(header, rows, ["et0_mm"])
    return 0


def _probe_columns(header: list[str]) -> dict[str, float]:
    """Columns named vwc_<depth>cm_pct -> depth in cm."""
    out: dict[str, float] = {}
    for name in header:
        if name.startswith("vwc_") and name.endswith("cm_pct"):
            try:
                out[name] = float(name[4:-6])
            except ValueError:
                raise _BadInput(f"column {name!r}: expected vwc_<depth>cm_pct, e.g. vwc_30cm_pct") from None
    return out


def _balance(args: argparse.Namespace) -> int:
    with _reporting("balance"):
        import tomllib

        from furrow.cloud.agronomy import radiation, tables
        from furrow.cloud.agronomy.crop import gdd
        from furrow.cloud.agronomy.et0 import Site, et0_daily
        from furrow.cloud.agronomy.water_balance import DayInput, ProbeReading, params_from_zone, run_water_balance
        from furrow.cloud.agronomy.zone import ZoneConfig

        try:
            zone = ZoneConfig.model_validate(tomllib.loads(args.zone.read_text(encoding="utf-8")))
        except OSError as exc:
            raise _BadInput(f"{args.zone}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise _BadInput(f"{args.zone}: not valid TOML ({exc})") from None
        header, rows = _read_csv(args.file)
        site = Site(latitude_deg=zone.site.latitude_deg, elevation_m=zone.site.elevation_m,
                    wind_height_m=zone.site.wind_height_m,
                    krs=radiation.KRS_COASTAL if zone.site.coastal else radiation.KRS_INTERIOR)
        probes = _probe_columns(header)
        days: list[DayInput] = []

        def run() -> None:
            tables.check_header(header, ("date",) if "et0_mm" in header else tables.DAILY_REQUIRED)
            for i, row in enumerate(rows, start=2):
                et0 = tables.number(i, row, "et0_mm", 0, 30)
                # the weather columns are needed for ET0 when it is not given, and for degree days
                w = tables.daily_row(i, row) if et0 is None or zone.crop.stages_in == "gdd" else None
                if et0 is None:
                    assert w is not None
                    et0 = et0_daily(w, site).et0_mm
                readings = tuple(ProbeReading(depth, v) for col, depth in probes.items()
                                 if (v := tables.number(i, row, col, 0, 100)) is not None)
                crop = zone.crop
                day_gdd = 0.0 if w is None else gdd(w.tmin_c, w.tmax_c, crop.gdd_base_c, crop.gdd_upper_c,
                                                    crop.gdd_method)
                days.append(DayInput(day=tables.row_date(i, row), et0_mm=et0,
                                     rain_mm=tables.number(i, row, "rain_mm", 0, 1000) or 0.0,
                                     irrigation_mm=tables.number(i, row, "irrigation_mm", 0, 1000) or 0.0,
                                     probes=readings, gdd=day_gdd))

        _with_file(args.file, run)
        records = run_water_balance(params_from_zone(zone), days, zone.crop.planting,
                                    zone.balance.initial_depletion_mm, stages_in_gdd=zone.crop.stages_in == "gdd")
        cols = ["date", "progress", "stage", "kc", "et0_mm", "etc_mm", "p", "taw_mm", "raw_mm", "ks", "etc_adj_mm",
                "rain_mm", "runoff_mm", "p_eff_mm", "irrigation_mm", "dp_mm", "dr_model_mm", "probe_dr_mm",
                "gain", "dr_mm"]
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(cols)
        for r in records:
            out.writerow([r.day.isoformat(), _fmt(r.progress, 1), str(r.stage), _fmt(r.kc, 3), _fmt(r.et0_mm),
                          _fmt(r.etc_mm), _fmt(r.p, 3), _fmt(r.taw_mm, 1), _fmt(r.raw_mm, 1), _fmt(r.ks, 3),
                          _fmt(r.etc_adj_mm), _fmt(r.rain_mm), _fmt(r.runoff_mm), _fmt(r.p_eff_mm),
                          _fmt(r.irrigation_mm), _fmt(r.dp_mm), _fmt(r.dr_model_mm),
                          "" if r.probe is None else _fmt(r.probe.depletion_mm), _fmt(r.gain, 3), _fmt(r.dr_mm)])
    return 0


def _gdd(args: argparse.Namespace) -> int:
    with _reporting("gdd"):
        from furrow.cloud.agronomy import tables
        from furrow.cloud.agronomy.crop import GddMethod, gdd

        if args.upper is not None and args.upper <= args.base:
            raise _BadInput(f"--upper ({args.upper}) must be above --base ({args.base})")
        header, rows = _read_csv(args.file)

        def run() -> None:
            tables.check_header(header, tables.DAILY_REQUIRED)
            total = 0.0
            for row, w in zip(rows, tables.daily_rows(rows), strict=True):
                day = gdd(w.tmin_c, w.tmax_c, args.base, args.upper, GddMethod(args.method))
                total += day
                row["gdd"] = _fmt(day)
                row["gdd_cum"] = _fmt(total)

        _with_file(args.file, run)
        _write(header, rows, ["gdd", "gdd_cum"])
    return 0
