"""Fuzz targets for the file readers: the gateway's TOML config and the `furrow agro` CSV importers.

Each input is the file's bytes; the target writes them to one scratch file
and runs the real reader on it: `gateway.config.load_config` (rejection:
ConfigError naming each field and value), and `furrow agro et0|gdd|balance`
through `furrow.cli.main` (rejection: exit code 2 with one line on stderr
naming the row and column or the file).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import math
import os
import random
import shutil
import tempfile
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

from furrow.gateway.config import ConfigError, load_config
from tests.fuzz_support import Target, mutate_bytes, mutate_structure

SCRATCH = Path(tempfile.mkdtemp(prefix="furrow-fuzz-"))  # one scratch file per reader, rewritten per input
atexit.register(shutil.rmtree, SCRATCH, True)
DATA = Path(__file__).parent / "data" / "agro"

# -- a small TOML writer (tomllib reads only) ------------------------------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(max(-(2**63), min(v, 2**63 - 1)))  # TOML integers are 64-bit
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if v is None:
        return '""'  # TOML has no null: the nearest wrong value
    if isinstance(v, str):
        return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}"
                             if ord(c) < 0x10000 and not 0xD800 <= ord(c) < 0xE000 else "?" for c in v) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, datetime | date):
        return v.isoformat()
    return '"' + str(v) + '"'


def _key(k: Any) -> str:
    k = str(k)
    return k if k and all(c.isalnum() or c in "_-" for c in k) and k.isascii() else _toml_value(k)


def to_toml(doc: dict) -> str:
    lines, tables = [], []
    for k, v in doc.items():
        if isinstance(v, dict):
            tables.append(f"\n[{_key(k)}]")
            tables += [f"{_key(kk)} = {_toml_value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for x in v:
                tables.append(f"\n[[{_key(k)}]]")
                tables += [f"{_key(kk)} = {_toml_value(vv)}" for kk, vv in x.items()]
        else:
            lines.append(f"{_key(k)} = {_toml_value(v)}")
    return "\n".join(lines + tables) + "\n"


# -- the gateway config ------------------------------------------------------------


def valid_config(rng: random.Random) -> dict:
    devices = [{"node_id": f"soil-{i:02d}", "host": "192.168.1.50", "port": 502, "unit": i + 1,
                "role": rng.choice(("soil", "weather", "irrigation", "pest")), "poll_interval": 5,
                "timeout": rng.choice((1, 0.5, "PT1S")), "baud": 19200, "turnaround": 0.005,
                "commands": rng.random() < 0.3} for i in range(rng.randrange(0, 4))]
    if rng.random() < 0.3:
        devices.append({"node_id": "rs485-1", "serial_port": "/dev/ttyUSB0", "unit": 9})
    doc: dict[str, Any] = {
        "site": "demo", "gateway_id": "gw-1", "topic_root": "furrow", "buffer_path": "/var/lib/furrow/b.sqlite",
        "forward_batch_size": rng.choice((1, 500, 5000)), "forward_interval": 1, "compress": True,
        "forward_via": "mqtt", "fresh_window": 120, "heartbeat_interval": 60, "irrigation_nodes": ["irr-01"],
        "http_port": 9108,
        "quota": {"max_rows": 2_000_000, "max_bytes": 2_000_000_000, "keep_roles": ["irrigation"],
                  "dedup_window": "P2D"},
        "farm_broker": {"host": "127.0.0.1", "port": 1883, "keepalive": 30, "timeout": 10},
        "cloud_broker": {"host": "mqtt.example.org", "port": 8883, "tls": True, "username": "gw-1",
                         "password": "s3cret-password", "keepalive": 30},
        "modbus": devices,
    }
    if rng.random() < 0.2:
        doc["forward_via"] = "https"
        doc["https"] = {"url": "https://cloud.example.org/api/v1/ingest/batch", "token": "t", "timeout": 10}
    return doc


def config_input(rng: random.Random) -> bytes:
    doc = valid_config(rng)
    pick = rng.random()
    if pick < 0.02:  # nesting attacks on the parser itself
        depth = rng.choice((10, 300, 3000))
        if rng.random() < 0.5:
            return b"site = " + b"[" * depth + b"1" + b"]" * depth + b"\n"
        return b"site = " + b"{a = " * depth + b"1" + b"}" * depth + b"\n"
    if pick < 0.1:
        return to_toml(doc).encode()
    if pick < 0.7:
        mutated = mutate_structure(doc, rng)
        try:
            return (to_toml(mutated) if isinstance(mutated, dict) else "site = " + _toml_value(mutated)).encode()
        except RecursionError:  # too deep for this writer: the same depth as text, deeper than tomllib goes
            depth = rng.choice((500, 3000))
            return b"site = " + b"[" * depth + b"1" + b"]" * depth + b"\n"
    return mutate_bytes(to_toml(doc).encode(), rng)


def _write(name: str, data: bytes) -> Path:
    path = SCRATCH / name
    path.write_bytes(data)
    return path


def _decode_config(data: bytes) -> str:
    load_config(_write("gateway.toml", data))
    return "accepted"


def config_reason(e: BaseException) -> str:
    assert isinstance(e, ConfigError), repr(e)
    assert e.problems and all(isinstance(p, str) and ":" in p and p.strip() for p in e.problems), e.problems
    first = e.problems[0]
    head = first.split("=", 1)[0] if "=" in first.split(":", 1)[0] else first.split(":", 1)[0]
    return head[:60]


# -- the CSV importers ---------------------------------------------------------------

NASTY_CELLS = ("", " ", "nan", "NaN", "inf", "-inf", "1e999", "-1e999", "abc", "1,5", " 12 ", "\u0663", "1_000",
               "0x10", "9" * 400, "-0", "1e-400", "2026-02-30", "2026-13-01", "99999-01-01", "2026-07-06T25:00",
               "2026-07-06T12:00", "2026-07-06T12:00+25:00", "2026-07-06T12:00Z", "\x00", "\"", "\"unclosed",
               "é", "\ud800", "-1", "101", "1e308", "30.000000000000001")


def _cell(rng: random.Random, lo: float, hi: float) -> str:
    return f"{rng.uniform(lo, hi):g}"


def daily_csv(rng: random.Random, et0_col: bool = False) -> list[list[str]]:
    cols = ["date", "tmin_c", "tmax_c"] + rng.sample(
        ["rh_min_pct", "rh_max_pct", "rh_mean_pct", "ea_kpa", "tdew_c", "wind_ms", "rs_mj_m2", "sunshine_h"],
        rng.randrange(0, 5))
    if et0_col:
        cols += ["et0_mm", "rain_mm", "irrigation_mm", rng.choice(("vwc_30cm_pct", "vwc_10cm_pct"))]
    day = date(2026, 5, 1)
    rows = [cols]
    for i in range(rng.randrange(0, 12)):
        tmin = rng.uniform(-10, 25)
        cells = {"date": (day + timedelta(days=i)).isoformat(), "tmin_c": f"{tmin:g}",
                 "tmax_c": "%g" % (tmin + rng.uniform(0, 15)), "rh_min_pct": _cell(rng, 10, 50),
                 "rh_max_pct": _cell(rng, 50, 100), "rh_mean_pct": _cell(rng, 30, 80), "ea_kpa": _cell(rng, 0.5, 3),
                 "tdew_c": _cell(rng, -5, 15), "wind_ms": _cell(rng, 0, 10), "rs_mj_m2": _cell(rng, 2, 30),
                 "sunshine_h": _cell(rng, 0, 14), "et0_mm": _cell(rng, 0, 10), "rain_mm": _cell(rng, 0, 20),
                 "irrigation_mm": _cell(rng, 0, 20), "vwc_30cm_pct": _cell(rng, 5, 45),
                 "vwc_10cm_pct": _cell(rng, 5, 45)}
        rows.append([cells.get(c, "") for c in cols])
    return rows


def hourly_csv(rng: random.Random) -> list[list[str]]:
    cols = ["time", "temp_c"] + rng.sample(["rh_pct", "ea_kpa", "wind_ms", "rs_mj_m2"], rng.randrange(0, 5))
    tz = timezone(timedelta(hours=rng.choice((-12, -1, 0, 2, 14))))
    t = datetime(2026, 10, 1, 1, tzinfo=tz)
    rows = [cols]
    for i in range(rng.randrange(0, 30)):
        cells = {"time": (t + timedelta(hours=i)).isoformat(timespec="minutes"), "temp_c": _cell(rng, -5, 40),
                 "rh_pct": _cell(rng, 5, 100), "ea_kpa": _cell(rng, 0.3, 4), "wind_ms": _cell(rng, 0, 12),
                 "rs_mj_m2": _cell(rng, 0, 3.5)}
        rows.append([cells[c] for c in cols])
    return rows


def mutate_table(rows: list[list[str]], rng: random.Random) -> list[list[str]]:
    rows = [list(r) for r in rows]
    for _ in range(rng.choice((1, 1, 2, 3))):
        op = rng.random()
        r = rng.randrange(len(rows))
        if op < 0.55 and rows[r]:
            rows[r][rng.randrange(len(rows[r]))] = rng.choice(NASTY_CELLS)
        elif op < 0.65 and len(rows) > 1:  # swap tmin and tmax or two rows
            a, b = rng.randrange(1, len(rows)), rng.randrange(1, len(rows))
            rows[a], rows[b] = rows[b], rows[a]
        elif op < 0.75:
            rows[r].append(rng.choice(NASTY_CELLS))  # a cell too many
        elif op < 0.82 and rows[r]:
            rows[r].pop()  # a cell too few
        elif op < 0.9:  # a header column renamed, duplicated or made odd
            rows[0][rng.randrange(len(rows[0]))] = rng.choice(
                ("date", "tmin_c", "vwc_nancm_pct", "vwc_infcm_pct", "vwc_-5cm_pct", "vwc_1e308cm_pct", "vwc_cm_pct",
                 "vwc_0cm_pct", "et0_mm", "", "\ufeffdate", "time"))
        else:
            rows.insert(rng.randrange(1, len(rows) + 1), list(rows[rng.randrange(len(rows))]))
    return rows


def _csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    for r in rows:
        out.write(",".join(r) + "\n")
    return out.getvalue().encode("utf-8", "surrogatepass")


def _table_input(make, rng: random.Random) -> bytes:
    rows = make(rng)
    pick = rng.random()
    if pick < 0.1:
        return _csv_bytes(rows)
    if pick < 0.8:
        return _csv_bytes(mutate_table(rows, rng))
    return mutate_bytes(_csv_bytes(rows), rng)


@cache
def _parser() -> argparse.ArgumentParser:
    from furrow.cli import build_parser

    return build_parser()  # what furrow.cli.main builds on every call (most of its time)


def _agro(args: list[str]) -> str:
    """Run `furrow agro ARGS` in-process as furrow.cli.main does; stdout is thrown away,
    stderr is the rejection."""
    err = io.StringIO()
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(err):
        try:
            parsed = _parser().parse_args(["agro", *args])
            code = int(parsed.func(parsed) or 0)
        except SystemExit as e:
            code = e.code
    if code in (0, None):
        return "accepted"
    raise AgroRejected(code, err.getvalue())


class AgroRejected(Exception):
    """`furrow agro` refused the file: its exit code and what it printed."""

    def __init__(self, code: object, stderr: str) -> None:
        super().__init__(code, stderr)
        self.code = code
        self.stderr = stderr


def agro_reason(e: BaseException) -> str:
    assert isinstance(e, AgroRejected)
    assert e.code == 2, f"exit code {e.code!r}, stderr {e.stderr!r}"
    lines = e.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("furrow agro "), f"not one line naming the problem: {e.stderr!r}"
    text = lines[0].split(": ", 1)[1] if ": " in lines[0] else lines[0]
    text = text.replace(str(SCRATCH), "")
    for marker in ("column ", "row "):
        if marker in text:
            return text[text.index(marker):].split(":")[0][:48]
    return text[:48]


def _csv_target(name: str, make, args: list[str], describe: str) -> Target:
    def generate(rng: random.Random) -> bytes:
        return _table_input(make, rng)

    def run(data: bytes) -> str:
        return _agro([*args, str(_write(name + ".csv", data))])

    return Target(name, generate, run, (AgroRejected,), agro_reason, describe)


def _zone_args() -> list[str]:
    return ["balance", "--zone", str(DATA / "zone.toml")]


FILE_TARGETS: dict[str, Target] = {
    "gateway_config": Target("gateway_config", config_input, _decode_config, (ConfigError,), config_reason,
                             "gateway.config.load_config on a TOML file"),
    "csv_et0_daily": _csv_target("csv_et0_daily", daily_csv, ["et0", "--lat", "50.8", "--elevation", "100"],
                                 "furrow agro et0 (daily) on a station CSV"),
    "csv_et0_hourly": _csv_target("csv_et0_hourly", hourly_csv,
                                  ["et0", "--lat", "16.2", "--lon", "-16.25", "--elevation", "8", "--timestep",
                                   "hourly"], "furrow agro et0 --timestep hourly on a station CSV"),
    "csv_gdd": _csv_target("csv_gdd", daily_csv, ["gdd", "--base", "10", "--upper", "30", "--method", "sine"],
                           "furrow agro gdd on a daily CSV"),
    "csv_balance": _csv_target("csv_balance", lambda rng: daily_csv(rng, et0_col=rng.random() < 0.7), _zone_args(),
                               "furrow agro balance on a zone's daily weather CSV"),
}
