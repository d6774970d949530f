"""The virtual farm's machines: a field worked back and forth, a GNSS receiver's NMEA along the way, the
tracker firmware's core reading it, and a combine's yield monitor over a crop whose yield comes from its
water stress.

* `Field`: a rectangle of `passes` implement widths by `length_m`, in a local transverse Mercator plane
  about its south-west corner (scale 1 at the origin: within 1e-8 over a field, so plane metres are
  ground metres); its boundary in WGS 84 for the registry, and the true worked ground of the first k
  passes (the truth the cloud's covered area is checked against).
* `Pattern`: back and forth along the field at `speed_m_s` with the implement down from edge to edge,
  lifted for a `turn_s` headland turn that moves one width across. The pass's first and last epochs
  fall exactly on the field's edges (length / speed whole seconds), so the truth is the pass rectangles.
* `Tour`: one machine's patterns on several fields in turn, driven between at road speed with the implement
  up (the demo's tractor going on to its next dispatched task).
* `Receiver`: NMEA 0183 GGA and RMC once a GNSS second, with a seeded position error and dropouts
  (windows in which the receiver reports no fix, quality 0). The error is a first-order Gauss-Markov
  process per axis (1 sigma `noise_m`, correlation time `correlation_s`; 0 for white noise): an RTK
  fixed receiver (GGA quality 4) is good to about 2 cm, a DGPS/SBAS one (quality 2) wanders by some
  decimetres over minutes, so passes a minute apart are off by different amounts (the pass-to-pass
  error that leaves strips and overlaps between swaths in the track).
* `TrackerCore`: the firmware's `TrackerNode` as a board drives it (firmware/tracker_link.py): each GNSS
  epoch's sentences go to `on_uart` with the implement switch as it is at that epoch, and the messages it
  makes come out of `tick`, as bytes for `MqttNodeRunner` to put in the flash ring and publish.
* `YieldMonitor`: the combine's grain mass flow (wet kg/s) and moisture at each epoch: the crop's yield
  under the header times width times speed, reaching the flow sensor `delay_s` later through a
  first-order lag of `lag_s` (the elevator), with a seeded relative noise and occasional spikes.
* `fao33_yield_kg_m2`: the crop's yield from its seasonal water stress, FAO Irrigation and Drainage
  Paper 33 (Doorenbos and Kassam 1979) eq. 1 - Ya/Ym = Ky (1 - ETa/ETm), by the cloud's own core
  (cloud/agronomy/expected_yield.py: the expected yield per zone uses the same equation and Ky table).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyproj import Geod, Transformer
from shapely.geometry import Polygon, box, mapping

from furrow.cloud.agronomy.expected_yield import KY, relative_yield
from furrow.cloud.machinery.grain import STANDARD_MOISTURE_PCT as GRAIN_MOISTURE_PCT
from furrow.firmware.tracker_node import TrackerNode

GEOD = Geod(ellps="WGS84")

# Ky of maize over the whole season, 1.25 (FAO-56 Table 24, from FAO-33: the cloud's table, with its source).
KY_MAIZE = KY["maize"]
STANDARD_MOISTURE_PCT = GRAIN_MOISTURE_PCT["maize"]  # 15.5 %: the cloud's maize value, with its source (grain.py)


def fao33_yield_kg_m2(ym_kg_m2: float, ky: float, eta_over_etm: float) -> float:
    """Actual yield from FAO-33 eq. 1: Ya = Ym (1 - Ky (1 - ETa/ETm)), never below 0 (the cloud's core)."""
    return ym_kg_m2 * relative_yield(ky, eta_over_etm)


def _nmea(body: str) -> bytes:
    c = 0
    for ch in body:
        c ^= ord(ch)
    return f"${body}*{c:02X}\r\n".encode()


def _ddmm(deg: float, width: int) -> str:
    """Degrees as NMEA's d..dmm.mmmmm, rounded in minutes first (35.9999999 is 3600.00000, not 3560.00000)."""
    minutes = round(abs(deg) * 60, 5)
    d = int(minutes // 60)
    return f"{d:0{width}d}{minutes - d * 60:08.5f}"


class Field:
    """A rectangular field of `passes` widths of `width_m` by `length_m`, its south-west corner at (lon, lat)."""

    def __init__(self, lon: float, lat: float, width_m: float, passes: int, length_m: float) -> None:
        self.width_m, self.passes, self.length_m = width_m, passes, length_m
        plane = f"+proj=tmerc +lon_0={lon} +lat_0={lat} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
        self._inv = Transformer.from_crs(plane, "EPSG:4326", always_xy=True)

    def lonlat(self, x: float, y: float) -> tuple[float, float]:
        return self._inv.transform(x, y)

    def _wgs84(self, plane: Polygon) -> Polygon:
        return Polygon([self.lonlat(x, y) for x, y in plane.exterior.coords])

    @property
    def boundary(self) -> dict:
        """The boundary as GeoJSON (WGS 84), as the registry takes it."""
        return dict(mapping(self._wgs84(box(0, 0, self.width_m * self.passes, self.length_m))))

    def area_ha(self) -> float:
        return geodesic_ha(self._wgs84(box(0, 0, self.width_m * self.passes, self.length_m)))

    def worked_ha(self, passes: int) -> float:
        """The true worked ground of the first `passes` passes, on the ellipsoid."""
        return geodesic_ha(self._wgs84(box(0, 0, self.width_m * passes, self.length_m)))


def geodesic_ha(polygon: Polygon) -> float:
    return abs(GEOD.geometry_area_perimeter(polygon)[0]) / 10_000


@dataclass(frozen=True)
class Pose:
    x: float
    y: float
    down: bool
    course: float
    speed: float


@dataclass(frozen=True)
class Pattern:
    """Back and forth over `field`, `passes` of them, then parked at the last pass's end."""

    field: Field
    passes: int
    speed_m_s: float
    turn_s: int

    def __post_init__(self) -> None:
        run = self.field.length_m / self.speed_m_s
        if run != int(run):
            raise ValueError("length_m / speed_m_s must be whole seconds: a pass's epochs end on the field's edge")

    @property
    def run_s(self) -> int:
        return int(self.field.length_m / self.speed_m_s)

    @property
    def duration_s(self) -> int:
        return self.passes * (self.run_s + self.turn_s) - self.turn_s

    def at(self, e: float) -> Pose:
        """Where the machine is `e` seconds after it starts."""
        w = self.field.width_m
        if e > self.duration_s:
            k = self.passes - 1
            return Pose((k + 0.5) * w, self.field.length_m if k % 2 == 0 else 0.0, False, 0.0, 0.0)
        cycle = self.run_s + self.turn_s
        k = int(e // cycle)
        t = e - k * cycle
        if t <= self.run_s:
            d = t * self.speed_m_s
            return Pose((k + 0.5) * w, d if k % 2 == 0 else self.field.length_m - d, True,
                        0.0 if k % 2 == 0 else 180.0, self.speed_m_s)
        y = self.field.length_m if k % 2 == 0 else 0.0
        return Pose((k + 0.5) * w + (t - self.run_s) / self.turn_s * w, y, False, 90.0, w / self.turn_s)


@dataclass(frozen=True)
class Leg:
    """A pattern worked in a tour, its field's south-west corner at (`x0`, `y0`) in the tour's frame."""

    pattern: Pattern
    x0: float
    y0: float

    def at(self, e: float) -> Pose:
        p = self.pattern.at(e)
        return Pose(p.x + self.x0, p.y + self.y0, p.down, p.course, p.speed)


@dataclass(frozen=True)
class Tour:
    """One machine's day of jobs: each leg's pattern in turn, and between two a drive on the straight line from
    where the last pass ended to where the next field's first pass starts at `road_m_s`, the implement up. Its
    frame is the first leg's field (`field`, which the receiver reads positions through): the other fields'
    corners are given in it (fields a few hundred metres apart: the planes differ by millimetres)."""

    legs: tuple[Leg, ...]
    road_m_s: float

    @property
    def field(self) -> Field:
        return self.legs[0].pattern.field

    def _drive_s(self, i: int) -> int:
        a, b = self.legs[i].at(self.legs[i].pattern.duration_s), self.legs[i + 1].at(0)
        return math.ceil(math.hypot(b.x - a.x, b.y - a.y) / self.road_m_s)

    def spans(self) -> list[tuple[int, int]]:
        """(start, end) of each leg's work, seconds from the tour's start."""
        out, t = [], 0
        for i, leg in enumerate(self.legs):
            out.append((t, t + leg.pattern.duration_s))
            t += leg.pattern.duration_s + (self._drive_s(i) if i + 1 < len(self.legs) else 0)
        return out

    @property
    def duration_s(self) -> int:
        return self.spans()[-1][1]

    def at(self, e: float) -> Pose:
        """Where the machine is `e` seconds after it starts (parked at the last pass's end after the last leg)."""
        spans = self.spans()
        for i, (start, end) in enumerate(spans):
            if e <= end or i + 1 == len(spans):
                return self.legs[i].at(e - start)
            if e < spans[i + 1][0]:  # on the road to the next field
                a, b = self.legs[i].at(self.legs[i].pattern.duration_s), self.legs[i + 1].at(0)
                f = (e - end) / (spans[i + 1][0] - end)
                course = math.degrees(math.atan2(b.x - a.x, b.y - a.y)) % 360
                return Pose(a.x + f * (b.x - a.x), a.y + f * (b.y - a.y), False, course, self.road_m_s)
        raise AssertionError("unreachable")


class Receiver:
    """A GNSS receiver's NMEA along a pattern at 1 Hz of GNSS time (see the module docstring)."""

    def __init__(self, pattern: Pattern | Tour, t0_s: int, noise_m: float = 0.02, correlation_s: float = 0.0,
                 quality: int = 4, lost: Sequence[tuple[int, int]] = (), seed: int = 1) -> None:
        self.pattern, self.t0_s, self.noise_m, self.lost = pattern, t0_s, noise_m, lost
        self.quality = quality
        self.rng = random.Random(seed)
        # Gauss-Markov: e' = a e + sqrt(1 - a^2) sigma w, a = exp(-1 s / tau): stationary with sigma
        self.a = math.exp(-1 / correlation_s) if correlation_s > 0 else 0.0
        self.err = [self.rng.gauss(0, noise_m), self.rng.gauss(0, noise_m)]
        self.stats = {"epochs": 0, "lost": 0}

    def _error(self) -> tuple[float, float]:
        k = math.sqrt(1 - self.a * self.a) * self.noise_m
        self.err = [self.a * e + k * self.rng.gauss(0, 1) for e in self.err]
        return self.err[0], self.err[1]

    def epoch(self, s: int) -> tuple[bytes, Pose, tuple[float, float] | None]:
        """Sentences of GNSS second `s`, the true pose, and the reported (lon, lat) or None."""
        e = s - self.t0_s
        t = time.gmtime(s)
        hms = f"{t.tm_hour:02d}{t.tm_min:02d}{t.tm_sec:02d}.00"
        date = f"{t.tm_mday:02d}{t.tm_mon:02d}{t.tm_year % 100:02d}"
        pose = self.pattern.at(e)
        self.stats["epochs"] += 1
        if any(a <= e < b for a, b in self.lost):
            self.stats["lost"] += 1
            return _nmea(f"GPGGA,{hms},,,,,0,00,99.9,,,,,,") + _nmea(f"GPRMC,{hms},V,,,,,,,{date},,,N"), pose, None
        ex, ey = self._error()
        lon, lat = self.pattern.field.lonlat(pose.x + ex, pose.y + ey)
        pos = f"{_ddmm(lat, 2)},{'N' if lat >= 0 else 'S'},{_ddmm(lon, 3)},{'E' if lon >= 0 else 'W'}"
        knots = pose.speed * 3600 / 1852
        mode = "R" if self.quality == 4 else "D"  # RMC mode: RTK or differential
        data = (_nmea(f"GPGGA,{hms},{pos},{self.quality},12,0.8,52.0,M,-8.0,M,,")
                + _nmea(f"GPRMC,{hms},A,{pos},{knots:.2f},{pose.course:.1f},{date},,,{mode}"))
        return data, pose, (lon, lat)


class TrackerCore:
    """The tracker firmware's core on a receiver, its board loop played epoch by epoch (module docstring).

    `gnss_s()` is the GNSS time now (seconds); epochs up to it are read, from the receiver's first to
    `until_s` (after which the receiver is off). `on_epoch(s, pose, lonlat)` sees each (the combine's
    yield monitor)."""

    def __init__(self, node_id: str, seqs: object, receiver: Receiver, gnss_s: Callable[[], float], until_s: int,
                 on_epoch: Callable[[int, Pose, tuple[float, float] | None], None] | None = None) -> None:
        self.node_id = node_id
        self.node = TrackerNode(node_id, seqs)
        self.receiver, self.gnss_s, self.until_s, self.on_epoch = receiver, gnss_s, until_s, on_epoch
        self.next_s = receiver.t0_s
        self.last = None  # no status fields to report (MqttNodeRunner.core_fw)

    def tick(self, _now_ms: int) -> list[bytes]:
        now_s = min(self.gnss_s(), self.until_s)
        while self.next_s <= now_s:
            data, pose, lonlat = self.receiver.epoch(self.next_s)
            self.node.on_uart(data, pose.down, True)
            if self.on_epoch is not None:
                self.on_epoch(self.next_s, pose, lonlat)
            self.next_s += 1
        out = []
        while (message := self.node.next_message(int(self.gnss_s() * 1000))) is not None:
            out.append(message)
        return out


class YieldMonitor:
    """A combine's yield monitor (module docstring) working along `pattern`, whose GNSS seconds start at `t0_s`;
    `yield_kg_m2(x, y)` is the crop at standard moisture. `true_kg` is what the header has cut so far (at
    standard moisture): the simulated harvest."""

    def __init__(self, pattern: Pattern, t0_s: int, yield_kg_m2: Callable[[float, float], float],
                 moisture_pct: float = 22.0, delay_s: int = 12, lag_s: float = 3.0, noise: float = 0.03,
                 spike_every: int = 150, seed: int = 1) -> None:
        self.pattern, self.t0_s, self.yield_kg_m2 = pattern, t0_s, yield_kg_m2
        self.width_m = pattern.field.width_m
        self.moisture_pct, self.delay_s, self.lag_s = moisture_pct, delay_s, lag_s
        self.noise, self.spike_every = noise, spike_every
        self.rng = random.Random(seed)
        self.rows: list[dict] = []
        self.true_kg = 0.0
        self._cut: list[float] = []
        self._sensed = 0.0

    def on_epoch(self, s: int, _pose: Pose, lonlat: tuple[float, float] | None) -> None:
        # what the header cuts over the coming second [s, s + 1), at standard moisture
        mid = self.pattern.at(s - self.t0_s + 0.5)
        cut = self.yield_kg_m2(mid.x, mid.y) * self.width_m * mid.speed if mid.down else 0.0
        self.true_kg += cut
        self._cut.append(cut * (100 - STANDARD_MOISTURE_PCT) / (100 - self.moisture_pct))  # wet
        arriving = self._cut[-1 - self.delay_s] if len(self._cut) > self.delay_s else 0.0
        self._sensed += (arriving - self._sensed) * (1 - math.exp(-1 / self.lag_s))
        flow = self._sensed * (1 + self.rng.gauss(0, self.noise))
        if len(self._cut) % self.spike_every == 0:
            flow *= 3.0  # a lump of material on the sensor
        if lonlat is not None:
            self.rows.append({"time": s * 1000, "lat": lonlat[1], "lon": lonlat[0], "flow_kg_s": max(flow, 0.0),
                              "moisture_pct": self.moisture_pct + self.rng.gauss(0, 0.3),
                              "header": "down" if _pose.down else "up"})

    def csv(self) -> str:
        """The monitor's log as its export: time (Unix ms), lat, lon, flow_kg_s, moisture_pct, header."""
        lines = ["time,lat,lon,flow_kg_s,moisture_pct,header"]
        lines += [f"{r['time']},{r['lat']:.8f},{r['lon']:.8f},{r['flow_kg_s']:.4f},{r['moisture_pct']:.2f},"
                  f"{r['header']}" for r in self.rows]
        return "\n".join(lines) + "\n"
