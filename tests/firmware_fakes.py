"""Datasheet-faithful fakes of the hardware the firmware drivers talk to.

Written in the MicroPython subset so the same fakes are copied next to the
firmware and drive it inside the MicroPython runtime too.
"""


class FakeADC:
    """machine.ADC: ``read_u16()`` returns the queued counts in turn, then
    repeats the last one."""

    def __init__(self, *counts):
        self.counts = list(counts)
        self.reads = 0

    def read_u16(self):
        self.reads += 1
        if len(self.counts) > 1:
            return self.counts.pop(0)
        return self.counts[0]


def dallas_crc8(data):
    """CRC-8 as the DS18B20 datasheet draws it: a shift register with taps
    at x^8 + x^5 + x^4 + 1, fed LSB first, cleared to 0."""
    reg = [0] * 8  # reg[i] is stage i; stage 0 is shifted out first
    for byte in data:
        for bit in range(8):
            feedback = ((byte >> bit) & 1) ^ reg[0]
            reg = reg[1:] + [feedback]  # shift towards stage 0, feedback enters stage 7
            # The x^5 and x^4 taps: feedback is XORed into the stages that
            # hold them after the shift (stages 3 and 2).
            reg[3] ^= feedback
            reg[2] ^= feedback
    crc = 0
    for i in range(8):
        crc |= reg[i] << i
    return crc


POWER_ON_SCRATCHPAD = bytes([0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10])


class FakeDS18B20:
    """One DS18B20's function layer: scratchpad, Convert T, ROM code."""

    def __init__(self, temp_c=21.5, rom=None, resolution_bits=12):
        self.temp_c = temp_c
        self.rom = rom or bytes([0x28, 1, 2, 3, 4, 5, 6, 0])
        # Bytes 0-7 of the scratchpad as they are at power-up (datasheet fig. 9).
        self.pad = bytearray(POWER_ON_SCRATCHPAD)
        self.pad[4] = ((resolution_bits - 9) << 5) | 0x1F
        self.conversions = 0

    def convert(self):
        raw = int(round(self.temp_c * 16)) & 0xFFFF
        undefined = 12 - (((self.pad[4] >> 5) & 3) + 9)
        raw |= (1 << undefined) - 1  # undefined low bits: the chip may set them
        self.pad[0] = raw & 0xFF
        self.pad[1] = raw >> 8
        self.conversions += 1

    def scratchpad(self):
        return bytes(self.pad) + bytes([dallas_crc8(self.pad)])


class FakeOneWire:
    """A 1-Wire bus with DS18B20s on it (reset/writebyte/readbyte).

    Fault modes: ``absent`` (no presence pulse, reads float high),
    ``shorted`` (line held low: presence seen, every bit reads 0),
    ``corrupt_byte`` (index of a scratchpad byte that gets one bit flipped
    in transit), ``vanish_after_reset`` (presence, then the device drops off
    and the line floats high).
    """

    def __init__(self, *devices):
        self.devices = list(devices)
        self.absent = False
        self.shorted = False
        self.corrupt_byte = None
        self.vanish_after_reset = False
        self.log = []
        self._state = "idle"
        self._selected = []
        self._match = []
        self._out = b""
        self._ptr = 0

    def reset(self):
        self.log.append("reset")
        self._state = "rom"
        self._selected = []
        if self.shorted:
            return True
        return bool(self.devices) and not self.absent

    def writebyte(self, value):
        self.log.append(value)
        if self.absent or self.shorted:
            return
        if self._state == "rom":
            if value == 0xCC:  # Skip ROM: every device listens
                self._selected = list(self.devices)
                self._state = "function"
            elif value == 0x55:  # Match ROM: 64 bits follow
                self._match = []
                self._state = "match"
            else:
                self._state = "idle"
        elif self._state == "match":
            self._match.append(value)
            if len(self._match) == 8:
                rom = bytes(self._match)
                self._selected = [d for d in self.devices if d.rom == rom]
                self._state = "function"
        elif self._state == "function":
            if value == 0x44:
                for d in self._selected:
                    d.convert()
                self._state = "idle"
            elif value == 0xBE:
                if len(self._selected) == 1:
                    self._out = self._selected[0].scratchpad()
                else:
                    self._out = b""  # nobody (or a collision) answers
                self._ptr = 0
                self._state = "read"
            else:
                self._state = "idle"

    def readbyte(self):
        if self.shorted:
            return 0x00
        if self.absent or self.vanish_after_reset or self._state != "read" or not self._out:
            return 0xFF  # the pull-up wins when nobody drives the line
        i = self._ptr
        self._ptr += 1
        if i >= len(self._out):
            return 0xFF
        b = self._out[i]
        if self.corrupt_byte == i:
            b ^= 0x04
        return b


class FakeValve:
    """A valve driver: ``set(open)``, with a history of every call."""

    def __init__(self):
        self.is_open = False
        self.calls = []

    def set(self, is_open):
        self.is_open = bool(is_open)
        self.calls.append(self.is_open)


class FakeFlowMeter:
    """A pulse flow meter at a fixed rate; the test advances its time."""

    def __init__(self, rate_l_min=0.0):
        self.rate = rate_l_min
        self.total = 0.0

    def run(self, seconds):
        self.total += self.rate * seconds / 60.0

    def total_l(self):
        return self.total

    def rate_l_min(self):
        return self.rate


class MemorySeq:
    """A SeqStore stand-in without flash: counts from `start`."""

    def __init__(self, start=0):
        self.value = start

    def next(self):
        v = self.value
        self.value += 1
        return v


def sensirion_crc8(data):
    """CRC-8 as the SHT3x datasheet (section 4.12) specifies it: polynomial
    0x31 (x^8 + x^5 + x^4 + 1), init 0xFF, no reflection, no final XOR;
    computed here bit by bit from the polynomial's definition."""
    reg = 0xFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = (reg >> 7) & 1
            reg = (reg << 1) & 0xFF
            if top ^ ((byte >> bit) & 1):
                reg ^= 0x31
    return reg


class FakeSHT3x:
    """An SHT3x on an I2C bus (machine.I2C's writeto/readfrom), at 0x44.

    Commands: soft reset 0x30A2, periodic 1 mps high repeatability 0x2130,
    fetch data 0xE000. After a fetch the next read NACKs (OSError) until the
    next measurement period (``period()``). Fault modes: ``absent`` (every
    transfer NACKs), ``corrupt`` (one bit of the humidity word flipped).
    """

    def __init__(self, temp_c=21.0, rh_pct=55.0, address=0x44):
        self.temp_c, self.rh_pct, self.address = temp_c, rh_pct, address
        self.absent = False
        self.corrupt = False
        self.periodic = False
        self._fresh = False
        self._fetch = False
        self.commands = []

    def period(self):
        if self.periodic:
            self._fresh = True

    def _check(self, addr):
        if self.absent or addr != self.address:
            raise OSError(19)  # ENODEV: the address is not acknowledged

    def writeto(self, addr, buf):
        self._check(addr)
        cmd = (buf[0] << 8) | buf[1]
        self.commands.append(cmd)
        if cmd == 0x30A2:
            self.periodic = False
        elif cmd == 0x2130:
            self.periodic = True
            self._fresh = True  # the first measurement is done by the time anyone reads
        elif cmd == 0xE000:
            self._fetch = True
        return 2

    def readfrom(self, addr, n):
        self._check(addr)
        if not (self._fetch and self._fresh):
            raise OSError(19)  # no data: the sensor NACKs the read header
        self._fetch = self._fresh = False
        s_t = int(round((self.temp_c + 45) * 65535 / 175))
        s_rh = int(round(self.rh_pct * 65535 / 100))
        t = bytes([s_t >> 8, s_t & 0xFF])
        h = bytes([s_rh >> 8, s_rh & 0xFF])
        out = bytearray(t + bytes([sensirion_crc8(t)]) + h + bytes([sensirion_crc8(h)]))
        if self.corrupt:
            out[4] ^= 0x01
        return bytes(out[:n])


# Trimming values of the BMP280/BME280 datasheets' worked example (T and P)
# and typical humidity trimming.
BME280_TRIM = {"T1": 27504, "T2": 26435, "T3": -1000, "P1": 36477, "P2": -10685, "P3": 3024, "P4": 2855,
               "P5": 140, "P6": -7, "P7": 15500, "P8": -14600, "P9": 6000,
               "H1": 75, "H2": 362, "H3": 0, "H4": 313, "H5": 50, "H6": 30}


def bme280_float(trim, adc_t, adc_p, adc_h):
    """The datasheet's floating-point compensation (BME280 datasheet 8.1):
    (degC, Pa, %RH). The driver uses the integer formulas; this is the
    independent reference the fake inverts."""
    c = trim
    var1 = (adc_t / 16384.0 - c["T1"] / 1024.0) * c["T2"]
    var2 = (adc_t / 131072.0 - c["T1"] / 8192.0) * (adc_t / 131072.0 - c["T1"] / 8192.0) * c["T3"]
    t_fine = var1 + var2
    t = t_fine / 5120.0
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * c["P6"] / 32768.0
    var2 = var2 + var1 * c["P5"] * 2.0
    var2 = var2 / 4.0 + c["P4"] * 65536.0
    var1 = (c["P3"] * var1 * var1 / 524288.0 + c["P2"] * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * c["P1"]
    p = 1048576.0 - adc_p
    p = (p - var2 / 4096.0) * 6250.0 / var1
    var1 = c["P9"] * p * p / 2147483648.0
    var2 = p * c["P8"] / 32768.0
    p = p + (var1 + var2 + c["P7"]) / 16.0
    h = t_fine - 76800.0
    h = (adc_h - (c["H4"] * 64.0 + c["H5"] / 16384.0 * h)) * (
        c["H2"] / 65536.0 * (1.0 + c["H6"] / 67108864.0 * h * (1.0 + c["H3"] / 67108864.0 * h)))
    h = h * (1.0 - c["H1"] * h / 524288.0)
    return t, p, min(100.0, max(0.0, h))


def _invert(f, target, lo, hi):
    """The integer x in lo..hi whose f(x) is nearest `target` (f monotonic)."""
    rising = f(hi) > f(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (f(mid) < target) == rising:
            lo = mid
        else:
            hi = mid
    return lo if abs(f(lo) - target) <= abs(f(hi) - target) else hi


class FakeBME280:
    """A BME280 on I2C (readfrom_mem/writeto_mem) at 0x76: chip id 0x60 at
    0xD0, trimming at 0x88..0xA1 and 0xE1..0xE7 (datasheet table 16 layout),
    data burst at 0xF7..0xFE holding the raw ADC values that the datasheet's
    own compensation turns into the fake's temperature, pressure and
    humidity. Until normal or forced mode is set the data read 0x80000
    ("skipped"). ``absent`` NACKs everything."""

    def __init__(self, temp_c=22.5, pressure_pa=100800.0, rh_pct=48.0, trim=None, address=0x76):
        self.temp_c, self.pressure_pa, self.rh_pct = temp_c, pressure_pa, rh_pct
        self.trim = dict(trim or BME280_TRIM)
        self.address = address
        self.absent = False
        self.regs = bytearray(256)
        self.regs[0xD0] = 0x60
        c = self.trim
        import struct

        self.regs[0x88:0xA0] = struct.pack("<HhhHhhhhhhhh", c["T1"], c["T2"], c["T3"], c["P1"], c["P2"], c["P3"],
                                           c["P4"], c["P5"], c["P6"], c["P7"], c["P8"], c["P9"])
        self.regs[0xA1] = c["H1"]
        h4, h5 = c["H4"] & 0xFFF, c["H5"] & 0xFFF
        self.regs[0xE1:0xE8] = struct.pack("<hBBBBb", c["H2"], c["H3"], h4 >> 4, (h4 & 0x0F) | ((h5 & 0x0F) << 4),
                                           h5 >> 4, c["H6"])

    def raw(self):
        """The raw (adc_t, adc_p, adc_h) the sensor would convert (worked out
        once per set of conditions: the search is slow on a microcontroller)."""
        key = (self.temp_c, self.pressure_pa, self.rh_pct)
        if getattr(self, "_raw_for", None) != key:
            self._raw = self._search()
            self._raw_for = key
        return self._raw

    def _search(self):
        adc_t = _invert(lambda x: bme280_float(self.trim, x, 400000, 30000)[0], self.temp_c, 0, (1 << 20) - 1)
        adc_p = _invert(lambda x: bme280_float(self.trim, adc_t, x, 30000)[1], self.pressure_pa, 0, (1 << 20) - 1)
        adc_h = _invert(lambda x: bme280_float(self.trim, adc_t, adc_p, x)[2], self.rh_pct, 0, 65535)
        return adc_t, adc_p, adc_h

    def _check(self, addr):
        if self.absent or addr != self.address:
            raise OSError(19)

    def writeto_mem(self, addr, reg, buf):
        self._check(addr)
        for i, b in enumerate(buf):
            self.regs[reg + i] = b

    def readfrom_mem(self, addr, reg, n):
        self._check(addr)
        if reg <= 0xF7 < reg + n:
            if self.regs[0xF4] & 0x03:  # forced or normal mode: a measurement exists
                adc_t, adc_p, adc_h = self.raw()
            else:
                adc_t, adc_p, adc_h = 0x80000, 0x80000, 0x8000
            self.regs[0xF7:0xFF] = bytes([adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0x0F) << 4,
                                          adc_t >> 12, (adc_t >> 4) & 0xFF, (adc_t & 0x0F) << 4,
                                          adc_h >> 8, adc_h & 0xFF])
        return bytes(self.regs[reg:reg + n])


class FakePin:
    """machine.Pin as an output: ``value(v)``, with (time, value) history."""

    def __init__(self, clock=None):
        self.level = 0
        self.history = []
        self.clock = clock

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.history.append((self.clock() if self.clock else None, v))


class FakeCounter:
    """The board's PulseCounter: a ``count`` of pulses the test adds."""

    def __init__(self):
        self.count = 0


class FakeCameraModule:
    """The esp32-camera MicroPython binding (``import camera``) with an OV2640 behind it.

    ``init`` must come first (the binding raises OSError otherwise);
    ``framesize(FRAME_*)`` picks the output size, whose constants are the
    binding's framesize_t values; ``capture()`` returns the JPEG bytes of a
    frame of the configured size, or False for a frame-buffer timeout
    (``fail_next`` makes the next ones fail). `frames` maps (width, height) to
    JPEG frames of that size, returned in turn: the sensor's output, which a
    test makes with an encoder (tests/image_support.py).
    """

    JPEG = 4  # pixformat_t PIXFORMAT_JPEG
    FRAME_QVGA = 5
    FRAME_CIF = 6
    FRAME_VGA = 8
    FRAME_SVGA = 9
    FRAME_XGA = 10
    FRAME_HD = 11
    FRAME_SXGA = 12
    FRAME_UXGA = 13
    SIZES = {5: (320, 240), 6: (400, 296), 8: (640, 480), 9: (800, 600), 10: (1024, 768), 11: (1280, 720),
             12: (1280, 1024), 13: (1600, 1200)}

    def __init__(self, frames):
        self.frames = frames
        self.ready = False
        self.size = (800, 600)  # the OV2640's default output after init: SVGA
        self.jpeg_quality = 12
        self.fail_next = 0
        self.captures = 0
        self._turn = {}

    def init(self, port, format=JPEG):
        if format != self.JPEG:
            raise OSError("this fake delivers JPEG only")
        self.ready = True

    def _check(self):
        if not self.ready:
            raise OSError("Camera not initialized")

    def framesize(self, code):
        self._check()
        if code not in self.SIZES:
            raise ValueError("framesize " + repr(code))
        self.size = self.SIZES[code]

    def quality(self, q):
        self._check()
        if not 0 <= q <= 63:
            raise ValueError("quality " + repr(q))
        self.jpeg_quality = q

    def capture(self):
        self._check()
        if self.fail_next:
            self.fail_next -= 1
            return False
        frames = self.frames[self.size]
        turn = self._turn.get(self.size, 0)
        self._turn[self.size] = turn + 1
        self.captures += 1
        return frames[turn % len(frames)]

    def deinit(self):
        self.ready = False
