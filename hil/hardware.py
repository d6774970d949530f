"""Emulated hardware for the real firmware drivers, fed by the virtual farm.

Each class stands in for a part that cannot exist on this machine and
behaves as its datasheet says, so the firmware's own drivers (not test
doubles of them) run against it:

- ProbeADC: a capacitive soil-moisture probe on a 16-bit ADC (read_u16);
  the count falls as the soil wets, with noise, and pins to the rail when
  the probe is disconnected.
- DS18B20Bus: a 1-Wire bus with one DS18B20 (reset/presence, Skip ROM,
  Convert T, Read Scratchpad with its Dallas CRC-8, 85 degC power-on value,
  12-bit resolution in 1/16 degC).
- AirSensor, Wind, Solar: the objects the weather core reads.
- Valve, FlowMeter: a relay-driven valve and a pulse flow meter.
- CanopyCamera: an ESP32-CAM's camera module (the esp32-camera binding the
  firmware's camera driver drives) looking down on a canopy of known cover.
"""

from __future__ import annotations

from collections.abc import Callable

from furrow.firmware.drivers.camera import FRAMESIZES
from furrow.hil.farm.canopy import jpeg, scene
from furrow.hil.virtual_farm import VirtualFarm

ADC_FULL = 65535


class ProbeADC:
    """A capacitive probe at `depth_cm` in `zone`, read through a 16-bit ADC."""

    def __init__(self, farm: VirtualFarm, zone: str, depth_cm: int, dry_raw: int = 50_000,
                 wet_raw: int = 20_000, wet_vwc_pct: float = 45.0, noise_counts: float = 60.0) -> None:
        self.farm, self.zone, self.depth_cm = farm, zone, depth_cm
        self.dry_raw, self.wet_raw, self.wet_vwc_pct = dry_raw, wet_raw, wet_vwc_pct
        self.noise_counts = noise_counts
        self.connected = True

    def read_u16(self) -> int:
        if not self.connected:
            return ADC_FULL  # open input floats to the rail through the pull-up
        vwc = self.farm.zones[self.zone].vwc(self.depth_cm)
        raw = self.dry_raw + (self.wet_raw - self.dry_raw) * vwc / self.wet_vwc_pct
        return max(0, min(ADC_FULL, int(round(raw + self.farm.noise(self.noise_counts)))))


def dallas_crc8(data: bytes) -> int:
    """CRC-8/MAXIM (x^8 + x^5 + x^4 + 1, reflected), as the DS18B20 computes it."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


class DS18B20Bus:
    """A 1-Wire bus holding one DS18B20 whose temperature comes from `temp_c()`."""

    SKIP_ROM, CONVERT_T, READ_SCRATCHPAD = 0xCC, 0x44, 0xBE

    def __init__(self, temp_c: Callable[[], float]) -> None:
        self.temp_c = temp_c
        self.present = True
        self._raw = 0x0550  # 85 degC: the power-on reset value until a conversion
        self._out: list[int] = []
        self._selected = False

    def reset(self) -> bool:
        self._out = []
        self._selected = False
        return self.present

    def writebyte(self, byte: int) -> None:
        if not self.present:
            return
        if byte == self.SKIP_ROM:
            self._selected = True
        elif self._selected and byte == self.CONVERT_T:
            self._raw = int(round(self.temp_c() * 16)) & 0xFFFF  # 12-bit: 1/16 degC
        elif self._selected and byte == self.READ_SCRATCHPAD:
            pad = bytes([self._raw & 0xFF, self._raw >> 8, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10])
            self._out = list(pad) + [dallas_crc8(pad)]

    def readbyte(self) -> int:
        if not self.present or not self._out:
            return 0xFF  # nobody drives the line: the pull-up reads ones
        return self._out.pop(0)


class AirSensor:
    """Air temperature, humidity and pressure at the sensor's resolution
    (SHT3x: 0.01 degC / 0.01 %RH; BME280 pressure: 0.01 kPa is plenty)."""

    has_pressure = True

    def __init__(self, farm: VirtualFarm, clock_s: Callable[[], float]) -> None:
        self.farm, self.clock_s = farm, clock_s

    def read(self) -> tuple[float, float, float]:
        w = self.farm.weather(self.clock_s())
        t = round(w.air_temp_c + self.farm.noise(0.05), 2)
        rh = round(min(100.0, max(0.0, w.rh_pct + self.farm.noise(0.3))), 2)
        return t, rh, round(w.pressure_kpa, 2)


class Wind:
    def __init__(self, farm: VirtualFarm, clock_s: Callable[[], float]) -> None:
        self.farm, self.clock_s = farm, clock_s

    def read(self) -> tuple[float, float]:
        w = self.farm.weather(self.clock_s())
        return round(max(0.0, w.wind_ms + self.farm.noise(0.2)), 2), round(w.wind_dir_deg % 360, 1)


class Solar:
    def __init__(self, farm: VirtualFarm, clock_s: Callable[[], float]) -> None:
        self.farm, self.clock_s = farm, clock_s

    def read(self) -> float:
        return round(max(0.0, self.farm.weather(self.clock_s()).rs_w_m2 + self.farm.noise(2.0)), 1)


class Valve:
    """A relay-driven valve on the virtual farm: set(True) opens it."""

    def __init__(self, farm: VirtualFarm, node: str, channel: int) -> None:
        self.farm, self.node, self.channel = farm, node, channel
        self.is_open = False

    def set(self, is_open: bool) -> None:
        self.is_open = bool(is_open)
        self.farm.set_valve(self.node, self.channel, self.is_open)


class FlowMeter:
    """A pulse flow meter: litres since power-up, integrated as time advances."""

    def __init__(self, farm: VirtualFarm, node: str) -> None:
        self.farm, self.node = farm, node
        self._total_l = 0.0
        self._t_s: float | None = None

    def advance(self, t_s: float) -> None:
        if self._t_s is not None and t_s > self._t_s:
            self._total_l += self.farm.valve_flow_l_min(self.node) * (t_s - self._t_s) / 60.0
        self._t_s = t_s

    def total_l(self) -> float:
        return round(self._total_l, 1)

    def rate_l_min(self) -> float:
        return round(self.farm.valve_flow_l_min(self.node), 2)


class CanopyCamera:
    """The esp32-camera binding (``import camera``: init, framesize, quality, capture, deinit) with a
    sensor photographing a canopy nadir: each capture is a JPEG of a generated scene
    (hil/farm/canopy.py) whose green cover is `cover()` (0..1) at that moment, its leaves
    placed anew for each photo. `truths` keeps each photo's true cover, in order, so what the cloud
    measures can be held against it. The FRAME_* codes are this stand-in's own (the driver only
    uses them by name); `quality` is kept, and the JPEG is encoded at Pillow's quality 85.
    """

    JPEG = 4  # pixformat_t PIXFORMAT_JPEG

    def __init__(self, cover: Callable[[], float], seed: int = 0) -> None:
        self.cover, self.seed = cover, seed
        self.ready = False
        self.size = FRAMESIZES["svga"]  # an OV2640's output after init
        self.jpeg_quality = 12
        self.truths: list[float] = []

    def init(self, port: int, format: int = JPEG) -> None:  # noqa: A002 - the binding's keyword
        if format != self.JPEG:
            raise OSError("this camera delivers JPEG only")
        self.ready = True

    def _check(self) -> None:
        if not self.ready:
            raise OSError("Camera not initialized")

    def framesize(self, code: int) -> None:
        self._check()
        self.size = _SIZES[code]

    def quality(self, q: int) -> None:
        self._check()
        if not 0 <= q <= 63:
            raise ValueError(f"quality {q!r}")
        self.jpeg_quality = q

    def capture(self) -> bytes:
        self._check()
        width, height = self.size
        image, truth = scene(self.cover(), seed=self.seed + len(self.truths), size=(height, width))
        self.truths.append(truth)
        return jpeg(image)

    def deinit(self) -> None:
        self.ready = False


_SIZES = {code: FRAMESIZES[name] for code, name in enumerate(FRAMESIZES)}
for _code, _name in enumerate(FRAMESIZES):
    setattr(CanopyCamera, f"FRAME_{_name.upper()}", _code)
