"""Readings as InfluxDB line protocol, shared by the 1.x and 2.x stores.

measurement  the measurement name (``vwc_pct``): its unit is in the name
tags         site, gateway, node, role, depth_cm, channel: low cardinality, they
             name a series (one sensor) and are what queries filter on
fields       value (float) or fault (string), seq (integer), rx_ms (integer),
             flags (JSON string, only when set)
timestamp    ts_ms, written in nanoseconds as ts_ms * 1e6 + seq % 1e6

seq is a field, never a tag: as a tag every report would open a new series and
the index would grow without bound. InfluxDB stores one point per
(measurement, tag set, timestamp), so a retried reading produces the identical
point and is stored once.

Why the nanoseconds: with a bare millisecond timestamp two *different* reports
of one sensor in the same millisecond would be the same point, and the later
would silently overwrite the earlier. That happens in practice: the Modbus
register map carries report time in whole seconds. The sub-millisecond part
carries seq % 1e6, so distinct reports stay distinct, a retry still lands on
its own point, and reading time at millisecond precision (epoch=ms) gives
ts_ms back unchanged.
"""

import json
from functools import lru_cache

from influxdb_client import Point, WritePrecision

from furrow.edge.measurements import unit_of

from ._reading import Reading
from ._reports import Reports

TAG_KEYS = ("site", "gateway", "node", "role", "depth_cm", "channel")
FIELD_KEYS = ("value", "fault", "seq", "rx_ms", "flags")


def to_point(r: Reading) -> Point:
    """The InfluxDB point of one reading."""
    p = Point(r.measurement)
    p.tag("site", r.site).tag("gateway", r.gateway).tag("node", r.node).tag("role", r.role)
    if r.depth_cm is not None:
        p.tag("depth_cm", str(r.depth_cm))
    if r.channel is not None:
        p.tag("channel", str(r.channel))
    if r.fault is not None:
        p.field("fault", r.fault)
    else:
        p.field("value", float(r.value))
    p.field("seq", int(r.seq))
    if r.rx_ms is not None:
        p.field("rx_ms", int(r.rx_ms))
    if r.flags:
        p.field("flags", json.dumps(list(r.flags)))
    return p.time(point_time_ns(r), WritePrecision.NS)


def point_time_ns(r: Reading) -> int:
    """The point's timestamp: ts_ms in nanoseconds, seq % 1e6 below the millisecond."""
    return int(r.ts_ms) * 1_000_000 + int(r.seq) % 1_000_000


# Escapes as influxdb_client's Point writes them (keys and tag values; string fields).
_KEY_ESCAPES = str.maketrans({"\\": "\\\\", ",": "\\,", " ": "\\ ", "=": "\\=", "\n": "\\n", "\r": "\\r",
                              "\t": "\\t", "\f": "\\f"})
_MEASUREMENT_ESCAPES = str.maketrans({"\\": "\\\\", ",": "\\,", " ": "\\ ", "\n": "\\n", "\r": "\\r",
                                      "\t": "\\t", "\f": "\\f"})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})


def _tag(value: str) -> str:
    out = value.translate(_KEY_ESCAPES)
    return out + " " if out.endswith("\\") else out


def _float(value: float) -> str:
    text = str(float(value))
    return text[:-2] if text.endswith(".0") else text


def to_line(r: Reading) -> str:
    """One line of line protocol (timestamp in nanoseconds, see the module docstring).

    Written directly (tags and fields in sorted key order, the escapes of
    ``to_point``): it gives the same line as ``to_point(r).to_line_protocol()``
    at about a sixth of the cost, which is most of the ingest's CPU. The
    measurement and tag set of a sensor is formatted once and remembered
    (`_series`): a farm has a few thousand sensors and each reports again.
    """
    fields = []
    if r.fault is not None:
        fields.append('fault="' + r.fault.translate(_STRING_ESCAPES) + '"')
    if r.flags:
        fields.append('flags="' + json.dumps(list(r.flags)).translate(_STRING_ESCAPES) + '"')
    if r.rx_ms is not None:
        fields.append(f"rx_ms={int(r.rx_ms)}i")
    fields.append(f"seq={int(r.seq)}i")
    if r.fault is None:
        fields.append("value=" + _float(r.value))  # type: ignore[arg-type]
    series = _series(r.measurement, r.channel, r.depth_cm, r.gateway, r.node, r.role, r.site)
    return f"{series} {','.join(fields)} {point_time_ns(r)}"


@lru_cache(maxsize=65_536)
def _series(measurement: str, channel: int | None, depth_cm: int | None, gateway: str, node: str, role: str,
            site: str) -> str:
    """The measurement and tags of one sensor's points, escaped, tags in sorted key order."""
    tags = []
    if channel is not None:
        tags.append("channel=" + str(int(channel)))
    if depth_cm is not None:
        tags.append("depth_cm=" + str(int(depth_cm)))
    tags.append("gateway=" + _tag(gateway))
    tags.append("node=" + _tag(node))
    tags.append("role=" + _tag(role))
    tags.append("site=" + _tag(site))
    return f"{measurement.translate(_MEASUREMENT_ESCAPES)},{','.join(tags)}"


def to_lines(readings: list[Reading]) -> list[str]:
    """The lines of `readings`, each exactly `to_line`'s.

    The readings of one report come one after another (``ingest.flatten``) and share their
    seq, rx_ms, flags and timestamp: those fields and the timestamp are formatted once per
    report, not once per reading, and each line is one f-string (docs/performance.md).
    """
    out: list[str] = []
    append = out.append
    last: tuple | None = None
    shared = stamp = ""
    for r in readings:
        key = (r.seq, r.ts_ms, r.rx_ms, r.flags)
        if key != last:
            last = key
            shared = _report_fields(r)
            stamp = str(point_time_ns(r))
        series = _series(r.measurement, r.channel, r.depth_cm, r.gateway, r.node, r.role, r.site)
        if r.fault is None:
            text = str(float(r.value))  # type: ignore[arg-type]
            append(f"{series} {shared},value={text[:-2] if text.endswith('.0') else text} {stamp}")
        else:
            append(f'{series} fault="{r.fault.translate(_STRING_ESCAPES)}",{shared} {stamp}')
    return out


def report_lines(reports: Reports) -> list[str]:
    """The lines of `reports`, straight from the validated reports without a `Reading` each:
    exactly `to_lines(list(reports))` (a property test checks it), at a fraction of the cost
    (docs/performance.md, "Fourth pass").

    Each node's sensors' series strings are kept per node (`_node_series`: the measurement and tags
    formatted once, looked up by a short key), a report's shared fields and its timestamp are
    formatted once, and a value's text is remembered (`_value_text`): readings repeat their values
    (a tenth of a percent, a tenth of a degree) far more often than not."""
    out: list[str] = []
    append = out.append
    texts = _VALUE_TEXTS
    for site, gateway, uplink, rx_ms, flags in reports.reports:
        node, role, seq, ts_ms = uplink["node"], uplink["role"], int(uplink["seq"]), int(uplink["ts_ms"])
        fields = []
        if flags:
            fields.append('flags="' + json.dumps(list(flags)).translate(_STRING_ESCAPES) + '"')
        if rx_ms is not None:
            fields.append(f"rx_ms={int(rx_ms)}i")
        fields.append(f"seq={seq}i")
        shared = ",".join(fields)
        stamp = str(ts_ms * 1_000_000 + seq % 1_000_000)
        sensors = _node_series(site, gateway, node, role)
        for r in uplink["readings"]:
            get = r.get
            name, depth, channel = r["name"], get("depth_cm"), get("channel")
            series = sensors.get((name, depth, channel))
            if series is None:
                series = sensors[name, depth, channel] = _series(name, channel, depth, gateway, node, role, site)
            fault = get("fault")
            if fault is None:
                value = r["value"]
                text = texts.get(value) if type(value) is float else None
                if text is None:
                    text = _value_text(value)
                append(f"{series} {shared},value={text} {stamp}")
            else:
                append(f'{series} fault="{fault.translate(_STRING_ESCAPES)}",{shared} {stamp}')
    return out


@lru_cache(maxsize=16_384)
def _node_series(site: str, gateway: str, node: str, role: str) -> dict[tuple, str]:
    """One node's series strings by (measurement, depth_cm, channel), filled as its sensors report:
    a 3-key lookup instead of `_series`' cache key of seven per reading."""
    return {}


_VALUE_TEXTS: dict[float, str] = {}  # a float value's text in line protocol, bounded below
_VALUE_TEXTS_MAX = 65_536


def _value_text(value: float) -> str:
    """`value` as a line protocol float (no trailing ``.0``, as `to_line` writes it), remembered when a float."""
    text = str(float(value))
    text = text[:-2] if text.endswith(".0") else text
    if type(value) is float and value:  # never 0.0: -0.0 equals it as a key and is written "-0"
        if len(_VALUE_TEXTS) >= _VALUE_TEXTS_MAX:
            _VALUE_TEXTS.clear()
        _VALUE_TEXTS[value] = text
    return text


def _report_fields(r: Reading) -> str:
    """The fields a report's readings share (flags, rx_ms, seq: sorted key order, as `to_line`)."""
    fields = []
    if r.flags:
        fields.append('flags="' + json.dumps(list(r.flags)).translate(_STRING_ESCAPES) + '"')
    if r.rx_ms is not None:
        fields.append(f"rx_ms={int(r.rx_ms)}i")
    fields.append(f"seq={int(r.seq)}i")
    return ",".join(fields)


def readable(row: dict) -> bool:
    """Whether a stored point is one Furrow wrote: every line it writes carries seq (a field) and a time.
    A point without them (another program writing into the database) is not a reading: the stores skip
    it, count it and say so, rather than let one such point fail every query that meets it."""
    return row.get("seq") is not None and row.get("time") is not None


def from_row(measurement: str, tags: dict[str, str | None], row: dict) -> Reading:
    """A Reading from a stored point: its tags and a row of time + fields."""
    depth = tags.get("depth_cm")
    channel = tags.get("channel")
    flags = row.get("flags")
    value = row.get("value")
    rx_ms = row.get("rx_ms")
    return Reading(
        site=tags.get("site") or "",
        gateway=tags.get("gateway") or "",
        node=tags.get("node") or "",
        role=tags.get("role") or "",
        measurement=measurement,
        unit=unit_of(measurement),
        depth_cm=int(depth) if depth not in (None, "") else None,
        channel=int(channel) if channel not in (None, "") else None,
        value=float(value) if value is not None else None,
        fault=row.get("fault"),
        seq=int(row["seq"]),
        ts_ms=int(row["time"]),
        rx_ms=int(rx_ms) if rx_ms is not None else None,
        flags=tuple(json.loads(flags)) if flags else (),
    )
