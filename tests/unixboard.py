# ruff: noqa: UP031 - MicroPython subset: %-formatting
# A node board on the MicroPython unix port (MicroPython subset: runs there, not on CPython).
#
# Frozen into the port's binary (tests/micropython_unix.py, board_binary), as a
# board's `machine` is built into its firmware, so the stand-ins cost the node's
# heap little. The image (lib/, main.py, config.json) is copied onto a LittleFS
# file system kept in a host file, which is then mounted at "/" in place of the
# host's: the firmware finds /config.json, /seq, /lib/furrow/... where a board
# has them and loads its .mpy files into the heap as a board does.
#
# This module stands in for what cannot exist on a PC: `machine` (pins, ADCs,
# I2C, the RS-485 UART, the watchdog), `network` (Wi-Fi), `onewire`, `ntptime`
# and `camera` (the esp32-camera binding of an ESP32-CAM firmware, whose
# sensor's frames are JPEG files on the host, "camera_frames", in turn).
# Sockets are the unix port's own, so an MQTT node talks to a real broker;
# while Wi-Fi is down ("wifi_down" windows, in seconds) or DNS ("dns_down"),
# the broker's name does not resolve, as on a board.
#
# A tracker's GNSS UART ("gnss" options) has a receiver behind it (class Gnss): GGA and RMC once a
# second of the board's clock, along a back-and-forth pattern over a field with headland turns, the
# implement down on the passes (its pin reads 0, a switch to ground) and up in the turns, no fix inside
# "gnss_lost" windows, standing still from "park_s".
#
# The RS-485 UART has the gateway behind it: a Modbus master that reads the 112
# input registers every `poll_every` loop passes, asks for the oldest report and
# acknowledges each one (report queue, contract 1.1), and, for an irrigation
# node, writes a command into its mailbox every `cmd_every` polls.
#
# Time: with "speed" > 0 the node's `time` is a virtual clock that moves `speed`
# times faster than its sleeps ask (time.sleep_ms(1) is a second at 1000), so
# hundreds of report intervals pass in seconds; with 0 it is the real clock. The
# run ends (exception Done) once `run_s` seconds have passed on that clock; the
# result is one line "UNIXBOARD {json}" on stdout, with what the node left in
# the flash folders "list_dirs".
#
# Out of heap on purpose ("heap_full_at_s"): at the first sleep from then on the
# harness fills the node's heap with blocks it keeps (gc run, every size down to
# one block), so the node's next allocation fails with a real MemoryError; with
# "heap_lock" the heap is also locked (micropython.heap_lock), so even what the
# unwinding frees cannot be allocated again. "out_pins": the result gives every
# output pin's level at the end ("pins") and when the heap was filled
# ("pins_at_full").
#
#   micropython -X heapsize=80K -c "import unixboard; unixboard.run('opts.json')"

import gc
import json
import os
import socket as _socket
import sys
import time as _real

import micropython

T0_S = 1767225600  # the wall clock at boot: 2026-01-01 00:00 UTC
_PERIOD = 1 << 30  # ticks wrap here, as on the ESP32
_ID_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789"

OPTS = {}
PINS = []  # pins with an interrupt handler: the pulses of rain gauges, traps, meters
OUT_PINS = []  # output pins, kept only with "out_pins" (a list costs the heap runs nothing without it)
BALLAST = []  # what fills the heap after "heap_full_at_s": its slots made at the start, while there is room
STA_IF, WDT_RESET, PWRON_RESET = 0, 3, 1


class Done(Exception):
    pass


class Flash:
    """A block device over a host file (the board's flash), for VfsLfs2."""

    def __init__(self, path, block_size=4096):
        self.f = open(path, "r+b")
        self.f.seek(0, 2)
        self.bs = block_size
        self.count = self.f.tell() // block_size

    def readblocks(self, n, buf, off=0):
        self.f.seek(n * self.bs + off)
        self.f.readinto(buf)

    def writeblocks(self, n, buf, off=0):
        self.f.seek(n * self.bs + off)
        self.f.write(buf)  # no flush: it would fsync the host file at every block

    def ioctl(self, op, arg):
        if op == 4:
            return self.count
        if op == 5:
            return self.bs
        return 0


class Clock:
    """The node's `time` module: virtual (speed > 0) or the real clock."""

    def __init__(self, speed, run_s):
        self.speed = speed
        self.us = 0
        self.start = _real.ticks_ms()
        self.end_us = run_s * 1000000
        self.sleeps = 0
        self.pulse_every = 0
        self.awake_since = None  # real ms when the loop last woke from a sleep
        self.longest_awake_ms = 0  # the longest the loop went without sleeping: a stall in a link call

    def _elapsed_us(self):
        if self.speed:
            return self.us
        return _real.ticks_diff(_real.ticks_ms(), self.start) * 1000

    def ticks_us(self):
        return self._elapsed_us() % _PERIOD

    def ticks_ms(self):
        return (self._elapsed_us() // 1000) % _PERIOD

    def ticks_diff(self, a, b):
        return (a - b + _PERIOD // 2) % _PERIOD - _PERIOD // 2

    def time(self):
        return T0_S + self._elapsed_us() // 1000000

    def gmtime(self, s=0):
        return _real.gmtime(s)

    def sleep_ms(self, ms):
        self.sleeps += 1
        if self.awake_since is not None:
            awake = _real.ticks_diff(_real.ticks_ms(), self.awake_since)
            self.longest_awake_ms = max(self.longest_awake_ms, awake)
        if self.pulse_every and self.sleeps % self.pulse_every == 0:
            for pin in PINS:  # a rain tip, a catch, a flow meter pulse
                pin.handler(pin)
        if self.speed:
            self.us += ms * 1000 * self.speed
        else:
            _real.sleep_ms(ms)
        self.awake_since = _real.ticks_ms()
        full_at = OPTS.get("heap_full_at_s")
        if full_at is not None and "pins_at_full" not in RESULT and self._elapsed_us() >= full_at * 1000000:
            _fill_heap()
        if self._elapsed_us() >= self.end_us:
            gc.collect()
            RESULT["live_bytes"] = gc.mem_alloc()  # the node still running: what it holds, stand-ins included
            _memory_map()
            raise Done()

    def sleep(self, s):
        self.sleep_ms(int(s * 1000))

    def within(self, windows):
        """True while the clock is inside one of the [start_s, end_s) windows."""
        now_s = self._elapsed_us() / 1000000
        for start, end in windows:
            if start <= now_s < end:
                return True
        return False


CLOCK = Clock(0, 0)


class Master:
    """The gateway on the RS-485 line: polls, drains the report queue, sends commands."""

    def __init__(self, opts):
        from furrow.edge.crc import crc16_modbus

        self.crc = crc16_modbus
        self.unit = opts.get("unit", 1)
        self.poll_every = opts.get("poll_every", 10)
        self.cmd_every = opts.get("cmd_every", 0)
        self.cmd = bytearray(bytes.fromhex(opts["cmd_frame"])) if opts.get("cmd_frame") else None
        self.reads = 0
        self.pending = b""
        self.stats = {"polls": 0, "replies": 0, "acked": 0, "commands": 0, "exceptions": 0}
        self.acked_seq = -1

    def _frame(self, body):
        c = self.crc(body)
        return bytes(body) + bytes((c & 0xFF, c >> 8))

    def any(self):
        self.reads += 1
        if not self.pending and self.reads % self.poll_every == 0:
            self.stats["polls"] += 1
            if self.cmd and self.cmd_every and self.stats["polls"] % self.cmd_every == 0:
                # A new id each time (its second character: 36 ids, more than the node
                # remembers), its CRC made afresh.
                n = self.stats["commands"]
                self.cmd[8] = _ID_CHARS[n % len(_ID_CHARS)]  # first id register, low byte
                self.stats["commands"] += 1
                self.pending = self._frame(self.cmd[:-2])
            else:
                self.pending = self._frame(bytes((self.unit, 4, 0, 0, 0, 112)))
        return len(self.pending)

    def read(self):
        data, self.pending = self.pending, b""
        return data

    def write(self, reply):
        self.stats["replies"] += 1
        if reply[1] & 0x80:
            self.stats["exceptions"] += 1
            return
        if reply[1] != 4 or reply[2] != 224:
            return
        # read in place: the gateway is another device, its copies are no part of the node's heap
        seq = (reply[7] << 24) | (reply[8] << 16) | (reply[9] << 8) | reply[10]
        queue = (reply[33] << 8) | reply[34]
        if queue & 0x8000:  # the oldest waiting report: acknowledge it
            self.pending = self._frame(bytes((self.unit, 16, 0, 3, 0, 2, 4, seq >> 24, (seq >> 16) & 255,
                                              (seq >> 8) & 255, seq & 255)))
            if seq != self.acked_seq:
                self.stats["acked"] += 1
                self.acked_seq = seq
        elif queue & 0x7FFF:  # reports wait: ask for the oldest first
            self.pending = self._frame(bytes((self.unit, 6, 0, 2, 0, 1)))

    def flush(self):
        pass


MASTER = None
GNSS = None
RESULT = {}


def _gnss(opts):
    """The receiver stand-in, its class made at first use (as `socket`'s): a class costs heap, and only a
    tracker's run has a receiver (the heap runs of the other roles leave it out)."""

    def _nmea(body):
        c = 0
        for ch in body:
            c ^= ord(ch)
        return "$%s*%02X\r\n" % (body, c)

    def _ddmm(deg, width):
        d = int(deg)
        return ("%0" + str(width) + "d%08.5f") % (d, (deg - d) * 60)

    class Gnss:
        """A receiver's NMEA at 1 Hz along a pattern (see the header); `read()` gives what arrived since."""

        def __init__(self, opts):
            self.lat0, self.lon0 = opts.get("lat", 36.0), opts.get("lon", 114.4)
            self.pass_m, self.width_m = opts.get("pass_m", 100), opts.get("width_m", 6)
            self.speed, self.turn_s = opts.get("speed_m_s", 2.5), opts.get("turn_s", 8)
            self.implement_pin, self.engine_pin = opts.get("implement_pin", 14), opts.get("engine_pin", 27)
            self.lost = opts.get("gnss_lost", ())
            self.park_s = opts.get("park_s")  # from then on the machine stands still, implement up
            # metres per degree at lat0 (the test computes them on the ellipsoid: no math module needed here)
            self.m_per_deg_lat = opts.get("m_per_deg_lat", 110950.0)
            self.m_per_deg_lon = opts.get("m_per_deg_lon", 90190.0)
            self.next_s = None
            self.stats = {"epochs": 0, "down": 0, "lost": 0}

        def at(self, e):
            """(x m east, y m north, implement down, course) e seconds after boot."""
            if self.park_s is not None and e >= self.park_s:
                x, y, _, course = self.at(self.park_s - 0.001)
                return x, y, False, course
            run_s = self.pass_m / self.speed
            cycle = run_s + self.turn_s
            k = int(e // cycle)
            w = e - k * cycle
            if w < run_s:
                d = w * self.speed
                return k * self.width_m, d if k % 2 == 0 else self.pass_m - d, True, 0 if k % 2 == 0 else 180
            y = self.pass_m if k % 2 == 0 else 0
            return k * self.width_m + (w - run_s) / self.turn_s * self.width_m, y, False, 90

        def down(self):
            return self.at(CLOCK._elapsed_us() / 1000000)[2]

        def _epoch(self, s):
            t = _real.gmtime(s)
            hms = "%02d%02d%02d.00" % (t[3], t[4], t[5])
            date = "%02d%02d%02d" % (t[2], t[1], t[0] % 100)
            e = s - T0_S
            self.stats["epochs"] += 1
            if CLOCK.within(self.lost):
                self.stats["lost"] += 1
                return _nmea("GPGGA,%s,,,,,0,00,99.9,,,,,," % hms) + _nmea("GPRMC,%s,V,,,,,,,%s,,,N" % (hms, date))
            x, y, down, course = self.at(e)
            self.stats["down"] += down
            lat = self.lat0 + y / self.m_per_deg_lat
            lon = self.lon0 + x / self.m_per_deg_lon
            pos = "%s,N,%s,E" % (_ddmm(lat, 2), _ddmm(lon, 3))
            knots = (self.speed if down else self.width_m / self.turn_s) * 3600 / 1852
            if self.park_s is not None and e >= self.park_s:
                knots = 0.0
            return (_nmea("GPGGA,%s,%s,4,12,0.8,52.0,M,-8.0,M,," % (hms, pos))
                    + _nmea("GPRMC,%s,A,%s,%.2f,%.1f,%s,,,R" % (hms, pos, knots, course, date)))

        def any(self):
            return 1

        def read(self):
            now = CLOCK.time()
            if self.next_s is None:
                self.next_s = now
            out = []
            while self.next_s <= now:
                out.append(self._epoch(self.next_s))
                self.next_s += 1
            return "".join(out).encode() if out else None

    return Gnss(opts)


# -- machine ---------------------------------------------------------------------


class Pin:
    OUT, IN, PULL_UP, IRQ_FALLING = 1, 0, 2, 4

    def __init__(self, pin, mode=0, pull=None):
        self.pin, self.level, self.handler = pin, 0, None
        if mode == Pin.OUT and OPTS.get("out_pins"):
            OUT_PINS.append(self)

    def value(self, level=None):
        if level is None:
            if GNSS is not None and self.pin == GNSS.implement_pin:
                return 0 if GNSS.down() else 1  # the implement's switch pulls to ground when down
            if GNSS is not None and self.pin == GNSS.engine_pin:
                return 1
            return self.level
        self.level = level

    def irq(self, trigger=0, handler=None):
        self.handler = handler
        PINS.append(self)


class ADC:
    def __init__(self, pin):
        self.raw = OPTS["adc"].get(str(pin.pin), 37000)

    def read_u16(self):
        return self.raw


class I2C:
    """The register files of the parts on the bus ("i2c": {address: hex of 256 registers})."""

    def __init__(self, bus, scl=None, sda=None, freq=0):
        self.parts = {}
        for addr, image in OPTS.get("i2c", {}).items():
            self.parts[int(addr)] = bytes.fromhex(image)

    def readfrom_mem(self, addr, reg, n):
        if addr not in self.parts:
            raise OSError(19)  # ENODEV: nobody acknowledged the address
        return self.parts[addr][reg:reg + n]

    def writeto_mem(self, addr, reg, buf):
        if addr not in self.parts:
            raise OSError(19)


class WDT:
    def __init__(self, timeout=0):
        pass

    def feed(self):
        pass


def UART(*args, **kwargs):  # noqa: N802 - machine.UART is a class on a board
    if GNSS is not None and kwargs.get("rxbuf"):
        return GNSS  # the tracker's receiver port (board.gnss_uart)
    return MASTER


def reset_cause():
    return PWRON_RESET


def deepsleep(ms=0):
    raise Done()


reset = deepsleep


# -- onewire, network, ntptime, socket ---------------------------------------------


class OneWire:
    """One DS18B20 (skip ROM) whose scratchpad is "ds18b20" (hex): a conversion, then a read."""

    def __init__(self, pin):
        self.pad = bytes.fromhex(OPTS.get("ds18b20", ""))
        self.at = -1

    def reset(self):
        self.at = -1
        return bool(self.pad)

    def writebyte(self, value):
        if value == 0xBE:  # read scratchpad
            self.at = 0

    def readbyte(self):
        if 0 <= self.at < len(self.pad):
            self.at += 1
            return self.pad[self.at - 1]
        return 0xFF  # the pull-up wins when nobody drives the line


class WLAN:
    def __init__(self, mode=0):
        pass

    def active(self, on=None):
        return True

    def isconnected(self):
        return not CLOCK.within(OPTS.get("wifi_down", ()))

    def connect(self, ssid=None, password=None):
        pass

    def status(self, what=None):
        return -60


def settime():
    pass


def __getattr__(name):
    # `socket.socket`, made at first use: a class costs heap, and only an MQTT node opens sockets
    # (the heap runs of the Modbus nodes leave it out).
    if name != "socket":
        raise AttributeError(name)

    class socket:
        """The unix port's socket as MicroPython documents sockets, and as an ESP32's behave:
        ``setblocking(True)`` is ``settimeout(None)`` (the unix port keeps the last timeout)."""

        def __init__(self, *args):
            self.s = _socket.socket(*args)

        def settimeout(self, seconds):
            self.s.settimeout(seconds)

        def setblocking(self, flag):
            self.s.settimeout(None if flag else 0)

        def connect(self, addr):
            self.s.connect(addr)

        def read(self, *args):
            return self.s.read(*args)

        def write(self, *args):
            return self.s.write(*args)

        def close(self):
            self.s.close()

    globals()["socket"] = socket
    return socket


def getaddrinfo(host, port, *args):
    if CLOCK.within(OPTS.get("wifi_down", ())) or CLOCK.within(OPTS.get("dns_down", ())):
        raise OSError(-202)  # lwIP's "name not known": no network, or no DNS server
    return _socket.getaddrinfo(host, port, *args)


# -- camera ------------------------------------------------------------------------

# The binding's constants: pixformat_t PIXFORMAT_JPEG and framesize_t values.
JPEG = 4
FRAME_QVGA, FRAME_CIF, FRAME_VGA, FRAME_SVGA, FRAME_XGA, FRAME_HD, FRAME_SXGA, FRAME_UXGA = 5, 6, 8, 9, 10, 11, 12, 13
FRAMES = []  # the sensor's output: host files, opened before the flash replaces the host's "/"
_CAM = {"ready": False, "shot": 0}


def init(port, format=JPEG):
    if format != JPEG:
        raise OSError("JPEG only")
    _CAM["ready"] = True


def _ready():
    if not _CAM["ready"]:
        raise OSError("Camera not initialized")  # as the binding says


def framesize(code):
    _ready()


def quality(q):
    _ready()


def capture():
    """The next frame's JPEG bytes, copied into the heap as the binding copies its frame buffer."""
    _ready()
    if not FRAMES:
        return False  # a frame-buffer timeout
    f = FRAMES[_CAM["shot"] % len(FRAMES)]
    _CAM["shot"] += 1
    f.seek(0)
    return f.read()


def deinit():
    _CAM["ready"] = False


# -- the run -----------------------------------------------------------------------


def _copy(src, dst):
    for name in os.listdir(src):
        s, d = src + "/" + name, dst + "/" + name
        if os.stat(s)[0] & 0x4000:
            try:
                os.mkdir(d)
            except OSError:
                pass
            _copy(s, d)
        else:
            with open(s, "rb") as fi, open(d, "wb") as fo:
                while True:
                    chunk = fi.read(512)
                    if not chunk:
                        break
                    fo.write(chunk)


def _mount():
    """The board's flash at "/", with the image copied onto it unless it is already there."""
    dev = Flash(OPTS["flash"])
    if OPTS.get("format", True):
        os.VfsLfs2.mkfs(dev)
    fs = os.VfsLfs2(dev)
    if OPTS.get("image"):
        os.mount(fs, "/flash")
        _copy(OPTS["image"], "/flash")
        os.umount("/flash")
    os.umount("/")
    os.mount(fs, "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]  # as on an ESP32: frozen modules before /lib


def _levels():
    return dict((str(p.pin), p.level) for p in OUT_PINS)


def _fill_heap():
    """Fill the heap with blocks kept in BALLAST, largest first, until not even one block is left."""
    RESULT["pins_at_full"] = _levels()
    i, size = 0, 4096
    gc.collect()
    while size and i < len(BALLAST):
        try:
            BALLAST[i] = bytearray(size)
            i += 1
        except MemoryError:
            size //= 2
    while i < len(BALLAST):  # what bytearrays (an object and its bytes) cannot take: one block each
        try:
            BALLAST[i] = i + 0.5
            i += 1
        except MemoryError:
            break
    if OPTS.get("heap_lock"):
        micropython.heap_lock()


def _empty_heap():
    """Give the filled heap back (unlocked), so the harness can say what happened."""
    if BALLAST and "pins_at_full" in RESULT:  # filled, and not given back yet
        if OPTS.get("heap_lock"):
            micropython.heap_unlock()
        BALLAST.clear()  # allocates nothing: the heap is still full
        gc.collect()


def _memory_map():
    if OPTS.get("mem_map"):
        import micropython

        micropython.mem_info(1)


def run(path):
    global CLOCK, MASTER, GNSS
    with open(path) as f:
        OPTS.update(json.load(f))
    OPTS.setdefault("adc", {})
    CLOCK = Clock(OPTS.get("speed", 1000), OPTS["run_s"])
    CLOCK.pulse_every = OPTS.get("pulse_every", 0)
    if "heap_full_at_s" in OPTS:
        BALLAST.extend([None] * 2048)
    for path in OPTS.get("camera_frames", ()):
        FRAMES.append(open(path, "rb"))
    _mount()
    MASTER = Master(OPTS.get("master", {}))
    if "gnss" in OPTS:
        GNSS = _gnss(OPTS["gnss"])
    me = sys.modules["unixboard"]
    for name in ("machine", "network", "onewire", "ntptime", "socket", "camera"):
        sys.modules[name] = me  # this module holds what each of them has
    sys.modules["time"] = CLOCK
    result = RESULT
    try:
        gc.collect()
        result["harness_bytes"] = gc.mem_alloc()
        with open("/main.py") as f:
            source = f.read()
        exec(source, {"__name__": "__main__"})
        result["error"] = "main() returned"
    except Done:
        result["error"] = None
    except Exception as e:  # noqa: BLE001 - reported to the test, which fails on it
        _empty_heap()
        _memory_map()
        sys.print_exception(e)
        result["error"] = "%s: %s" % (type(e).__name__, e)
    _empty_heap()
    gc.collect()
    _memory_map()
    if OUT_PINS:
        result["pins"] = _levels()
    result["mem_alloc"], result["mem_free"] = gc.mem_alloc(), gc.mem_free()
    result["clock_s"] = CLOCK._elapsed_us() // 1000000
    result["longest_awake_ms"] = CLOCK.longest_awake_ms
    for folder in OPTS.get("list_dirs", ()):  # what the node left in these flash folders
        try:
            result.setdefault("files", {})[folder] = sorted(os.listdir(folder))
        except OSError:
            result.setdefault("files", {})[folder] = None
    result["modbus"] = MASTER.stats
    if GNSS is not None:
        result["gnss"] = GNSS.stats
    print("UNIXBOARD " + json.dumps(result))
