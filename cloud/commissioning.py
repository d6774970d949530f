"""Commissioning a node, as pure functions: the checklist, the soil-sensor calibration fit, and
a gateway's Modbus bus health.

The routes in ``api/routes/commissioning.py`` fetch the registry entry, the route and the newest
readings and hand them in here; nothing in this module does I/O.

Calibration: a capacitive probe's raw count falls as the soil gets wetter. The technician takes
points (raw count, volumetric water content measured another way, e.g. gravimetrically) and
fits ``vwc_pct = c0 + c1*raw + c2*raw**2``:

- ``two-point``: exactly a dry and a wet point, a straight line through both (what the firmware
  driver applies: firmware/drivers/soil_moisture.py, ``dry_raw``/``wet_raw``);
- ``linear``: least squares over two or more points;
- ``quadratic``: least squares over three or more distinct counts, for soils where the response
  bends (clays, saline soils).

The fit is stored on the registry node as plain numbers (its ``calibration`` object), so the
registry stays the one place a node's configuration lives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from furrow.edge.errors import ContractError

from .agronomy.messages import Message, Texts

# The English of the checklist's details and the fit's warnings; the dashboard's catalogues
# translate the same keys (agronomy/messages.py).
TEXT = Texts({
    "check.registered": "role {node_role}, zone {zone}",
    "check.registered-no-zone": "role {node_role}, no zone",
    "check.registered-site": "role {node_role}, site {site}",
    "check.tracker-no-site": "role {node_role}, no site: it gets no broker login until it has one; give it its farm's "
                             "site: furrow node add {node} --role tracker --site SITE --out DIR",
    "check.not-registered": "not in the registry: register it (furrow node add, or the registry API)",
    "check.never-heard": "never heard through a gateway",
    "check.not-heard-yet": "not heard yet",
    "check.last-heard": "last heard {ago} ago",
    "check.age-s": "{s} s",
    "check.age-min": "{min} min",
    "check.age-h-min": "{h} h {min} min",
    "check.age-d-h": "{d} d {h} h",
    "check.good-readings": "{count} sensor(s) with a value",
    "check.no-good-reading": "no reading with a value yet",
    "check.photos": "{count} photo(s) in the last {days} days",
    "check.no-photo": "no photo in the last {days} days",
    "check.depths": "registered {registered} cm, reporting {reporting} cm",
    "check.implausible": "{value} % at {depth_cm} cm outside {low}..{high} %",
    "check.plausible": "{count} soil moisture value(s) within this soil's range (FC {fc_pct} %, WP {wp_pct} %)",
    "check.no-zone": "the node has no zone, so no soil to judge the values against",
    "check.fault": "{sensor}: {fault}",
    "check.node-fault": "{fault}",
    "check.each": "{findings}",
    "check.no-faults": "none reported",
    "check.not-calibrated": "no soil calibration stored (the firmware default applies)",
    "check.node-wide-fit": "fit stored: {coefficients}",
    "check.probes-missing": "fits stored for {fitted} cm, none for {missing} cm",
    "check.every-probe": "a fit of its own for each probe ({fitted} cm)",
    "fit.turns-back": "the curve turns back within the calibrated counts: one count gives two water contents; "
                      "take more points or use linear",
})

RAW_MAX = 65535  # a 16-bit ADC count (edge/measurements.py: soil_raw)

# A plausible calibration line for the probes the firmware reads: capacitive probes on the node's
# 16-bit ADC referenced to 3.3 V (firmware/drivers/soil_moisture.py). Their count falls as the
# soil wets ("an inverse ratio between the sensor output value and soil moisture", DFRobot's
# SEN0193 wiki), and their whole swing from air to water is about 1.3 V: 520 to 260 of 1023 on
# a 5 V ADC in DFRobot's calibration example, 2.8 V to 1.44 V on a v1.2 probe at 3.3 V
# (borosLab, hackaday.io project 165551): 25,000 to 27,000 counts. Oven-dry to saturated soil,
# relative permittivity about 3 to 30 (0 to 45 % water by Topp, Davis & Annan 1980, Water
# Resour. Res. 16:574), is a third to a half of air-to-water (1 to 80) as the probe sees it, so
# a calibrated line moves about 0.0015 to 0.006 % of water content per count. The accepted band
# is about three times wider at each end: 67 to 2,000 counts per % of water content.
PLAUSIBLE_PCT_PER_COUNT = (0.0005, 0.015)
STALE_AFTER_MS = 60 * 60 * 1000  # a node silent this long is stale on the technician's list
# A camera is heard through its photos, a day apart at most by default (alerts/snapshot.py camera_interval_s): it is
# stale once it has missed a photo by half a day, not after an hour (views/nodes.js CAMERA_STALE_MS, the same).
CAMERA_STALE_AFTER_MS = 36 * 60 * 60 * 1000
PHOTO_DAYS = 7  # a camera's checklist counts its photos of the last week


def stale_after_ms(role: str | None) -> int:
    """How long a node of this role may be silent before it is stale."""
    return CAMERA_STALE_AFTER_MS if role == "camera" else STALE_AFTER_MS
SURFACE_CM = 15  # above this depth the soil may air-dry well below the wilting point


class Method(StrEnum):
    TWO_POINT = "two-point"
    LINEAR = "linear"
    QUADRATIC = "quadratic"


@dataclass(frozen=True)
class Point:
    raw: float
    vwc_pct: float


@dataclass(frozen=True)
class Fit:
    method: Method
    c0: float
    c1: float
    c2: float
    residuals_pct: list[float]  # measured - fitted, per point, in the order given
    rmse_pct: float
    warnings: list[Message] = field(default_factory=list)

    def vwc(self, raw: float) -> float:
        return self.c0 + self.c1 * raw + self.c2 * raw * raw

    def as_calibration(self, points: Sequence[Point]) -> dict[str, float]:
        """The registry node's ``calibration`` object: coefficients, and for a two-point fit the
        firmware driver's own parameters too."""
        out = {"c0": self.c0, "c1": self.c1, "c2": self.c2, "rmse_pct": self.rmse_pct,
               "points": float(len(points))}
        if self.method is Method.TWO_POINT:
            dry, wet = sorted(points, key=lambda p: p.vwc_pct)
            out.update(dry_raw=dry.raw, wet_raw=wet.raw, vwc_dry_pct=dry.vwc_pct, vwc_wet_pct=wet.vwc_pct)
        return out


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a small, well-scaled system)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12:
            raise ZeroDivisionError("singular")
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def _least_squares(points: Sequence[Point], order: int) -> tuple[float, float, float]:
    # Fit in a centred, scaled variable: raw counts squared reach 4e9, which makes the normal
    # equations of the raw polynomial badly conditioned. Expand back to raw afterwards.
    raws = [p.raw for p in points]
    mid = (max(raws) + min(raws)) / 2
    half = (max(raws) - min(raws)) / 2
    xs = [(r - mid) / half for r in raws]
    k = order + 1
    ata = [[sum(x ** (i + j) for x in xs) for j in range(k)] for i in range(k)]
    atb = [sum(x ** i * p.vwc_pct for x, p in zip(xs, points, strict=True)) for i in range(k)]
    a = _solve(ata, atb) + [0.0] * (3 - k)
    # vwc = a0 + a1*u + a2*u^2 with u = (raw - mid)/half
    c2 = a[2] / half**2
    c1 = a[1] / half - 2 * a[2] * mid / half**2
    c0 = a[0] - a[1] * mid / half + a[2] * mid**2 / half**2
    return c0, c1, c2


def fit_calibration(points: Sequence[Point], method: Method | str) -> Fit:
    """Fit vwc_pct from raw counts; ContractError naming the field for points that cannot
    give the fit asked for."""
    try:
        method = Method(method)
    except ValueError:
        raise ContractError("method", method, f"must be one of {', '.join(m.value for m in Method)}") from None
    for i, p in enumerate(points):
        if not (isinstance(p.raw, int | float) and math.isfinite(p.raw) and 0 <= p.raw <= RAW_MAX):
            raise ContractError(f"points.{i}.raw", p.raw, f"must be an ADC count 0..{RAW_MAX}")
        if not (isinstance(p.vwc_pct, int | float) and math.isfinite(p.vwc_pct) and 0 <= p.vwc_pct <= 100):
            raise ContractError(f"points.{i}.vwc_pct", p.vwc_pct, "must be a water content 0..100 %")
    distinct = len({p.raw for p in points})
    needed = {Method.TWO_POINT: 2, Method.LINEAR: 2, Method.QUADRATIC: 3}[method]
    if method is Method.TWO_POINT and len(points) != 2:
        raise ContractError("points", f"{len(points)} points", "two-point takes exactly a dry and a wet point")
    if distinct < needed:
        raise ContractError("points", f"{distinct} distinct raw counts",
                            f"{method} needs at least {needed} points with different raw counts")
    if method is Method.TWO_POINT and points[0].vwc_pct == points[1].vwc_pct:
        raise ContractError("points.1.vwc_pct", points[1].vwc_pct, "the dry and wet points need different vwc_pct")
    c0, c1, c2 = _least_squares(points, 2 if method is Method.QUADRATIC else 1)
    fitted = [c0 + c1 * p.raw + c2 * p.raw * p.raw for p in points]
    residuals = [round(p.vwc_pct - f, 3) for p, f in zip(points, fitted, strict=True)]
    rmse = math.sqrt(sum(r * r for r in residuals) / len(residuals))
    warnings = []
    lo, hi = min(p.raw for p in points), max(p.raw for p in points)
    check_slope(c1 + c2 * (lo + hi), hi - lo)
    if c2 != 0 and lo < -c1 / (2 * c2) < hi:
        warnings.append(TEXT("fit.turns-back"))
    return Fit(method, c0, c1, c2, residuals, round(rmse, 3), warnings)


def check_slope(pct_per_count: float, counts: float) -> None:
    """Refuse (ContractError naming `points`) a fit whose mean slope over its `counts` of
    calibrated range no capacitive probe on the node's ADC gives (PLAUSIBLE_PCT_PER_COUNT):
    water rising with the count (points swapped), points nearly equal for the water contents
    between them (the probe was not in the media given), or counts too far apart for them."""
    low, high = PLAUSIBLE_PCT_PER_COUNT
    water = abs(pct_per_count) * counts
    per_pct = f"{counts:.0f} counts for {water:.3g} % of water content"
    band = (f"the capacitive probes the firmware reads move {1 / high:.0f} to {1 / low:,.0f} counts per % "
            "(about 25,000 from air to water on the node's 16-bit ADC)")
    if pct_per_count > 0:
        raise ContractError("points", f"{pct_per_count:+.2g} % per count",
                            "water content rises with the raw count, but these probes' count falls as soil wets: "
                            "were the dry and wet points swapped?")
    if abs(pct_per_count) > high:
        raise ContractError("points", per_pct, f"the dry and wet counts are nearly equal: {band}; was the probe in "
                            "the medium given at each point, or was one reading taken twice?")
    if abs(pct_per_count) < low:
        raise ContractError("points", per_pct, f"the counts are too far apart for the water contents given: {band}; "
                            "are the water contents in % (45, not 0.45)?")


# --- the checklist --------------------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    name: str
    ok: bool
    detail: Message
    pending: bool = False  # not judged yet: nothing to judge it on until the node is heard

    def record(self) -> dict[str, object]:
        """The item as the API gives it: the detail in English, and as a message key and values."""
        said = self.detail.record()
        return {"name": self.name, "ok": self.ok, "pending": self.pending, "detail": self.detail.text,
                "detail_key": said["key"], "detail_params": said["params"]}


@dataclass(frozen=True)
class Live:
    """One sensor's newest value as the commissioning view shows it."""

    measurement: str
    depth_cm: int | None
    channel: int | None
    value: float | None
    fault: str | None
    ts_ms: int
    calibrated_vwc_pct: float | None = None  # soil_raw through the stored calibration


def plausible_vwc_range(fc_pct: float, wp_pct: float, depth_cm: int | None) -> tuple[float, float]:
    """Where a working probe's reading can lie in this soil at this depth (%).

    Below: deeper soil rarely dries much past the wilting point; the surface layer air-dries
    to about half of it. Above: wetter than field capacity drains within a day or two, up to
    saturation, taken as field capacity plus the available water range (a loose ceiling: the
    check is for broken or badly calibrated probes, not for agronomy)."""
    shallow = depth_cm is not None and depth_cm <= SURFACE_CM
    low = wp_pct * 0.5 if shallow else max(0.0, wp_pct - 3.0)
    high = min(100.0, fc_pct + max(10.0, fc_pct - wp_pct))
    return round(low, 1), round(high, 1)


def depth_key(depth_cm: int, key: str) -> str:
    """The key of one probe's own fit in the node's flat ``calibration`` object ("30cm:c1"):
    a soil node's probes sit in different soil layers and are calibrated one by one."""
    return f"{depth_cm}cm:{key}"


def probe_calibration(calibration: Mapping[str, float] | None, depth_cm: int | None) -> dict[str, float]:
    """The fit that applies to the probe at `depth_cm`: its own, else the node-wide one."""
    if not calibration:
        return {}
    if depth_cm is not None:
        prefix = depth_key(depth_cm, "")
        own = {k[len(prefix):]: v for k, v in calibration.items() if k.startswith(prefix)}
        if own:
            return own
    return {k: v for k, v in calibration.items() if "cm:" not in k}


def apply_calibration(calibration: Mapping[str, float] | None, raw: float | None,
                      depth_cm: int | None = None) -> float | None:
    """vwc_pct from a raw count through a stored fit (the probe's own at `depth_cm` if it has
    one; None without any)."""
    calibration = probe_calibration(calibration, depth_cm)
    if raw is None or not calibration or "c1" not in calibration:
        return None
    c0, c1, c2 = (float(calibration.get(k, 0.0)) for k in ("c0", "c1", "c2"))
    return round(c0 + c1 * raw + c2 * raw * raw, 2)


def heard_ago(age_ms: int) -> Message:
    """How long ago, as a person reads it: seconds under 90 s, minutes under 90 min, hours and minutes
    under two days, then days and hours (the steps of the dashboard's `ago`, dashboard/static/fmt.js).
    Counted down, so never later than it was (23,441 s is 6 h 30 min); a clock ahead is 0 s."""
    s = max(0, age_ms // 1000)
    if s < 90:
        return TEXT("check.age-s", s=s)
    m = s // 60
    if m < 90:
        return TEXT("check.age-min", min=m)
    h, m = divmod(m, 60)
    if h < 48:
        return TEXT("check.age-h-min", h=h, min=m)
    d, h = divmod(h, 24)
    return TEXT("check.age-d-h", d=d, h=h)


def checklist(*, registered: Mapping | None, zone: Mapping | None, last_seen_ms: int | None,
              faults: Iterable[str], live: Sequence[Live], now_ms: int, photos: int | None = None) -> dict:
    """The commissioning checklist for one node: registered, heard, first good reading,
    depths as registered, values plausible for this depth and soil, no faults, calibrated.
    A camera sends photos, not readings: it is heard within a day and a half, and its first photo
    (`photos`, how many it sent in the last PHOTO_DAYS days) stands for the first good reading.

    `registered` is the registry node (id, role, zone_id, depths_cm, calibration) or None;
    `zone` the registry zone (field_capacity_pct, wilting_point_pct) or None. Until the node is
    heard, the items judged on its readings are pending ("not heard yet"), neither passed nor
    failed on readings it never sent."""
    items: list[Item] = []
    if registered is None:
        items.append(Item("registered", False, TEXT("check.not-registered")))
    elif registered.get("zone_id"):
        items.append(Item("registered", True, TEXT("check.registered", node_role=registered["role"],
                                                   zone=registered["zone_id"])))
    elif registered.get("site_id"):  # a tracker: at a site, in no zone (it rides a machine from field to field)
        items.append(Item("registered", True, TEXT("check.registered-site", node_role=registered["role"],
                                                   site=registered["site_id"])))
    elif registered.get("role") == "tracker":  # registered before 0032 in an organisation of several sites
        items.append(Item("registered", False, TEXT("check.tracker-no-site", node_role=registered["role"],
                                                    node=registered.get("id", "NODE"))))
    else:
        items.append(Item("registered", True, TEXT("check.registered-no-zone", node_role=registered["role"])))
    camera = registered is not None and registered.get("role") == "camera"
    heard = last_seen_ms is not None
    age = None if last_seen_ms is None else now_ms - last_seen_ms
    # the age as a person reads it ("6 h 30 min"), and in seconds for a program reading the values
    said = TEXT("check.never-heard") if age is None else TEXT("check.last-heard", ago=heard_ago(age), age_s=age // 1000)
    items.append(Item("heard", heard and age <= stale_after_ms(registered and registered.get("role")), said))
    want = sorted(registered.get("depths_cm") or []) if registered else []
    first = "first_photo" if camera else "first_good_reading"
    if not heard:
        items += [Item(name, False, TEXT("check.not-heard-yet"), pending=True)
                  for name in (first, *(("depths",) if want else ()), "no_faults")]
        return _result(items, registered, want)
    good = [x for x in live if x.value is not None and x.fault is None]
    if camera:
        items.append(Item(first, bool(photos), TEXT("check.photos", count=photos, days=PHOTO_DAYS) if photos
                          else TEXT("check.no-photo", days=PHOTO_DAYS)))
    else:
        items.append(Item(first, bool(good),
                          TEXT("check.good-readings", count=len(good)) if good else TEXT("check.no-good-reading")))
    seen = sorted({x.depth_cm for x in live if x.measurement == "vwc_pct" and x.depth_cm is not None})
    if want:
        items.append(Item("depths", seen == want, TEXT("check.depths", registered=want, reporting=seen)))
    vwc = [x for x in good if x.measurement == "vwc_pct"]
    if vwc and zone is not None:
        bad = []
        for x in vwc:
            low, high = plausible_vwc_range(zone["field_capacity_pct"], zone["wilting_point_pct"], x.depth_cm)
            if not low <= x.value <= high:
                bad.append(TEXT("check.implausible", value=x.value, depth_cm=x.depth_cm, low=low, high=high))
        items.append(Item("plausible", not bad, TEXT("check.each", findings=bad) if bad else TEXT(
            "check.plausible", count=len(vwc), fc_pct=zone["field_capacity_pct"], wp_pct=zone["wilting_point_pct"])))
    elif vwc:
        items.append(Item("plausible", False, TEXT("check.no-zone")))
    fault_list = [*(TEXT("check.node-fault", fault=f) for f in faults),
                  *(TEXT("check.fault", sensor=f"{x.measurement}@{x.depth_cm}", fault=x.fault)
                    for x in live if x.fault)]
    unique = list({m.text: m for m in fault_list}.values())
    items.append(Item("no_faults", not unique,
                      TEXT("check.each", findings=unique) if unique else TEXT("check.no-faults")))
    return _result(items, registered, want)


def _result(items: list[Item], registered: Mapping | None, want: list[int]) -> dict:
    if registered is not None and registered.get("role") == "soil":
        items.append(_calibrated(registered.get("calibration") or {}, want))
    by_name = {i.name: i.ok for i in items}
    return {
        "registered": by_name["registered"],
        "first_good_reading": by_name.get("first_good_reading", by_name.get("first_photo", False)),
        "plausible": by_name.get("plausible", False),
        "ready": all(i.ok for i in items),
        "items": [i.record() for i in items],
    }


def _calibrated(cal: Mapping[str, float], depths: Sequence[int]) -> Item:
    """Calibrated: a node-wide fit, or a fit of its own for every registered probe."""
    if not cal:
        return Item("calibrated", False, TEXT("check.not-calibrated"))
    node_wide = probe_calibration(cal, None)
    if node_wide:
        return Item("calibrated", True, TEXT("check.node-wide-fit",
                                             coefficients=", ".join(f"{k}={v:g}" for k, v in node_wide.items())))
    own = [d for d in depths if "c1" in probe_calibration(cal, d)]
    missing = [d for d in depths if d not in own]
    fitted = sorted({int(k.split("cm:")[0]) for k in cal if "cm:" in k and k.split("cm:")[0].isdigit()})
    if missing:
        return Item("calibrated", False, TEXT("check.probes-missing", fitted=fitted, missing=missing))
    return Item("calibrated", True, TEXT("check.every-probe", fitted=fitted))


# --- Modbus bus health ----------------------------------------------------------------------

def bus_health(devices: Mapping[str, Mapping], previous: Mapping[str, Mapping] | None,
               interval_ms: int | None) -> list[dict]:
    """Per port: its devices, request error rate and poll rate, from a gateway's per-device
    Modbus counters (gateway/modbus/poller.py ``DeviceHealth``). Rates come from the change
    since the previous report (`interval_ms` apart); without one, from the totals."""
    ports: dict[str, dict] = {}
    for node, d in sorted(devices.items()):
        port = str(d.get("port", "?"))
        p = ports.setdefault(port, {"port": port, "devices": [], "requests": 0, "errors": 0, "polls_delta": 0})
        before = (previous or {}).get(node, {})
        requests, errors, polls = (int(d.get(k) or 0) for k in ("requests", "errors", "polls"))
        dr = requests - int(before.get("requests") or 0) if before else requests
        de = errors - int(before.get("errors") or 0) if before else errors
        if dr < 0 or de < 0:  # the gateway restarted: its counters began again
            dr, de = requests, errors
        p["requests"] += dr
        p["errors"] += de
        p["polls_delta"] += max(0, polls - int(before.get("polls") or 0)) if before else 0
        p["devices"].append({
            "node": node, "unit": d.get("unit"), "role": d.get("role"), "requests": requests, "errors": errors,
            "error_rate": round(errors / requests, 4) if requests else None,
            "consecutive_failures": d.get("consecutive_failures", 0), "backed_off": bool(d.get("backed_off")),
            "last_good_ms": d.get("last_good_ms"), "last_error": d.get("last_error"),
        })
    out = []
    for p in ports.values():
        polls = p.pop("polls_delta")
        p["error_rate"] = round(p["errors"] / p["requests"], 4) if p["requests"] else None
        p["polls_per_min"] = round(polls * 60_000 / interval_ms, 2) if previous and interval_ms else None
        out.append(p)
    return out
