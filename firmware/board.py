"""The board: the one module that imports machine, network, umqtt and camera.

It turns the config dict (see config_example.json and README.md) into
objects the cores and drivers take: ADCs, 1-Wire buses, an RS-485 UART, valve
outputs, pulse counters, the camera module, the MQTT client, and a clock. Everything above it
runs unchanged on CPython and in the HIL emulator. Runs only on hardware.
"""

import time

import machine


class Clock:
    """Never-wrapping time for the cores.

    ``time.ticks_ms/us`` wrap (ESP32: after 2**30), so the elapsed ticks are
    added up on every call; the loop calls far more often than a wrap period.
    Unix ms are the wall clock read once (after NTP) plus monotonic ticks, so
    an NTP step never makes a running valve's time jump.
    """

    def __init__(self):
        # Some ports count from 2000-01-01, not 1970: reports need Unix time.
        epoch_s = 946684800 if time.gmtime(0)[0] == 2000 else 0
        self._unix0_ms = (int(time.time()) + epoch_s) * 1000
        self._ms = 0
        self._us = 0
        self._tick_ms = time.ticks_ms()
        self._tick_us = time.ticks_us()

    def now_ms(self):
        t = time.ticks_ms()
        self._ms += time.ticks_diff(t, self._tick_ms)
        self._tick_ms = t
        return self._unix0_ms + self._ms

    def now_us(self):
        t = time.ticks_us()
        self._us += time.ticks_diff(t, self._tick_us)
        self._tick_us = t
        return self._us


class Valve:
    """A latching-relay or solenoid driver output: ``set(open)``."""

    def __init__(self, pin, active_high=True):
        self._pin = machine.Pin(pin, machine.Pin.OUT)
        self._on = 1 if active_high else 0
        self.set(False)

    def set(self, is_open):
        self._pin.value(self._on if is_open else 1 - self._on)


class PulseCounter:
    """Counts falling edges on `pin` (flow meter, rain gauge, trap counter).

    For a flow meter: ``total_l()`` and ``rate_l_min()``. With `handler` each
    edge is also passed on as ``handler(*args, clock.now_ms())`` (the rain
    gauge and the traps debounce in their cores): a bound method and plain
    arguments, no closure, so the code that wired it can be freed after boot.
    """

    def __init__(self, pin, litres_per_pulse=1.0, handler=None, args=(), clock=None):
        self.count = 0
        self.litres_per_pulse = litres_per_pulse
        self._handler, self._args, self._clock = handler, args, clock
        self._last = (time.ticks_ms(), 0)
        self._pin = machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP)
        self._pin.irq(trigger=machine.Pin.IRQ_FALLING, handler=self._edge)

    def _edge(self, _pin):
        self.count += 1
        if self._handler is not None:
            self._handler(*self._args, self._clock.now_ms())

    def total_l(self):
        return self.count * self.litres_per_pulse

    def rate_l_min(self):
        now, count = time.ticks_ms(), self.count
        then, before = self._last
        self._last = (now, count)
        dt = time.ticks_diff(now, then)
        if dt <= 0:
            return 0.0
        return (count - before) * self.litres_per_pulse * 60000 / dt


class Rs485:
    """A half-duplex RS-485 port: UART plus the transceiver's DE/RE pin,
    held high only while a reply is being sent."""

    def __init__(self, cfg):
        baud = cfg.get("baud", 9600)
        parity = {"N": None, "E": 0, "O": 1}[cfg.get("parity", "E")]
        # 8E1 is the Modbus default; without parity the spec asks for 2 stop bits.
        stop = 1 if parity is not None else 2
        self.baud = baud
        self.uart = machine.UART(
            cfg.get("uart", 1), baudrate=baud, bits=8, parity=parity, stop=stop, tx=cfg["tx"], rx=cfg["rx"]
        )
        self._de = machine.Pin(cfg["de"], machine.Pin.OUT)
        self._de.value(0)

    def read(self):
        if self.uart.any():
            return self.uart.read()
        return b""

    def write(self, data):
        self._de.value(1)
        self.uart.write(data)
        self.uart.flush()  # wait for the last stop bit before releasing the bus
        self._de.value(0)


def gnss_uart(cfg):
    """The UART a GNSS receiver's NMEA comes in on (8N1, `baud` default 9600), with a 2 KiB receive
    buffer: two seconds of RMC and GGA at 1 Hz, so a slow connect attempt loses no sentence."""
    return machine.UART(cfg.get("uart", 2), baudrate=cfg.get("baud", 9600), bits=8, parity=None, stop=1,
                        tx=cfg.get("tx", -1), rx=cfg["rx"], rxbuf=2048)


class Switch:
    """A digital input (an implement-down switch, an engine-on line) behind an opto-isolator: `on()`
    is True at `active` (0 for a switch pulling the pin low against the pull-up)."""

    def __init__(self, pin, active=1):
        self.pin = machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP if active == 0 else None)
        self.active = active

    def on(self):
        return self.pin.value() == self.active


def adc(pin):
    return machine.ADC(machine.Pin(pin))


def onewire_bus(pin):
    import onewire

    return onewire.OneWire(machine.Pin(pin))


def battery(cfg):
    """A callable giving the battery voltage through a resistor divider."""
    a = adc(cfg["adc"])
    scale = cfg.get("divider", 2.0) * cfg.get("vref", 3.3) / 65535

    def read_v():
        return a.read_u16() * scale

    return read_v


def wifi(cfg, timeout_ms=20000):
    """Connect to Wi-Fi; returns the WLAN (its ``status('rssi')`` is the RSSI)."""
    import network

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(cfg["ssid"], cfg["password"])
        start = time.ticks_ms()
        while not wlan.isconnected() and time.ticks_diff(time.ticks_ms(), start) < timeout_ms:
            time.sleep_ms(100)
    return wlan


def wifi_up(cfg):
    """True while Wi-Fi is connected; otherwise start joining again (without waiting) and return False."""
    import network

    wlan = network.WLAN(network.STA_IF)
    if wlan.isconnected():
        return True
    try:
        wlan.connect(cfg["ssid"], cfg["password"])
    except OSError:
        pass  # still joining from the last try
    return False


def set_time():
    """Set the RTC from NTP; reports need Unix time. False when unreachable."""
    try:
        import ntptime

        ntptime.settime()
        return True
    except Exception:  # noqa: BLE001 - retried by the caller
        return False


def mqtt_client(cfg, client_id, will_topic, will_msg):
    """A umqtt.simple client with a retained QoS 1 last will. Plain MQTT: the
    broker is the farm gateway's, on the farm network; TLS starts at the
    gateway's cloud link."""
    from umqtt.simple import MQTTClient

    client = MQTTClient(
        client_id,
        cfg["host"],
        port=cfg.get("port", 1883),
        user=cfg.get("user"),
        password=cfg.get("password"),
        keepalive=cfg.get("keepalive_s", 60),
    )
    client.set_last_will(will_topic, will_msg, retain=True, qos=1)
    return client


def reset():
    machine.reset()


def pin_out(pin):
    p = machine.Pin(pin, machine.Pin.OUT)
    p.value(0)
    return p


def i2c(cfg):
    """The I2C bus of an air sensor: hardware I2C `bus` (default 0) on `scl`/`sda`."""
    return machine.I2C(cfg.get("bus", 0), scl=machine.Pin(cfg["scl"]), sda=machine.Pin(cfg["sda"]), freq=100000)


def camera():
    """The esp32-camera binding of an ESP32-CAM class board (``import camera``: a MicroPython firmware
    built with the camera driver; stock MicroPython has none), for drivers/camera.py."""
    import camera as module

    return module


_RESET_CAUSES = (
    ("WDT_RESET", "watchdog reset"),
    ("PWRON_RESET", "power-on reset"),
    ("HARD_RESET", "hard reset"),
    ("SOFT_RESET", "soft reset"),
    ("DEEPSLEEP_RESET", "deep sleep wake"),
)


def reset_reason():
    """Why the board (re)started, in words, for the irrigation journal."""
    cause = getattr(machine, "reset_cause", None)
    if cause is None:
        return "reset"
    code = cause()
    for name, words in _RESET_CAUSES:
        if getattr(machine, name, None) == code:
            return words
    return "reset (cause %r)" % (code,)


class Watchdog:
    """The hardware watchdog, or nothing when `timeout_s` is 0. Once started it
    cannot be stopped: a loop that stops calling ``feed()`` resets the board,
    and the irrigation journal then closes what was open. RP2040 watchdogs
    stop at 8.3 s, so the timeout is capped there."""

    def __init__(self, timeout_s):
        self._wdt = None
        if timeout_s:
            ms = timeout_s * 1000
            if "rp2" in __import__("sys").platform:
                ms = min(ms, 8300)
            self._wdt = machine.WDT(timeout=ms)

    def feed(self):
        if self._wdt is not None:
            self._wdt.feed()


def deep_sleep(ms):
    """Power down until `ms` from now; the board then boots from main.py again."""
    machine.deepsleep(ms)
