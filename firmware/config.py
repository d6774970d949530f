"""The node's /config.json, validated at boot without touching hardware.

``validate(cfg)`` returns ``(cfg_with_defaults, errors)``; each error is a
tuple ``(field, value, message)``, the field a path such as
``"probes[1].dry_raw"``. The board loop refuses to start a core on a config
with errors: it reports them (MQTT status ``fault``, Modbus input register
14 = 1 and 15 = the number of errors) and waits for a technician, instead of
crashing, rebooting and crashing again.

Pure and MicroPython-compatible, so `furrow firmware build` checks a config
on the bench with the very code the board runs. Each role's and each link's
checks are a function of their own (ROLE_CHECKS, LINK_CHECKS): a node's image
carries only its own (furrow firmware build), so the validator a board loads
at boot is its role's, and a config for a role or link the image was not built
for is an error that says so.
"""

from furrow.edge.errors import ContractError
from furrow.edge.image import DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES
from furrow.edge.topics import check_id

ROLES = ("soil", "weather", "irrigation", "pest", "camera", "tracker")
LINKS = ("modbus", "mqtt")
BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
MAX_PROBES = 4
MAX_VALVES = 4  # the register map's coils
MAX_TRAPS = 4
CAMERA_INTERVAL_S = 10800  # a camera's default: canopy cover changes over days; a few photos a day follow it


class _Check:
    def __init__(self):
        self.errors = []

    def bad(self, field, value, reason):
        self.errors.append((field, value, reason))

    def section(self, cfg, key, required, prefix=""):
        """(cfg[key] as a dict ({} if absent and optional), the prefix of its fields: "key.").

        The prefixes are made here, not written out ("flow.", "battery."): a short string in the code
        is a name MicroPython interns when it loads the module, and keeps after the validator is freed."""
        value = cfg.get(key)
        at = prefix + key
        if value is None:
            if required:
                self.bad(at, None, "is required")
            value = {}
        elif not isinstance(value, dict):
            self.bad(at, value, "must be an object")
            value = {}
        return value, at + "."

    def num(self, cfg, key, lo, hi, default, prefix="", integer=True):
        """cfg[key] within lo..hi; `default` None means required."""
        if key not in cfg or cfg[key] is None:
            if default is None:
                self.bad(prefix + key, None, "is required")
            else:
                cfg[key] = default
            return cfg.get(key)
        v = cfg[key]
        kind_ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not kind_ok:
            self.bad(prefix + key, v, "must be an integer" if integer else "must be a number")
        elif not lo <= v <= hi:
            self.bad(prefix + key, v, "must be %s..%s" % (lo, hi))
        return v

    def pin(self, cfg, key, prefix="", required=True):
        if key not in cfg and not required:
            return None
        return self.num(cfg, key, 0, 255, None, prefix)

    def choice(self, cfg, key, options, default, prefix=""):
        v = cfg.get(key, default)
        cfg[key] = v
        if v not in options:
            self.bad(prefix + key, v, "must be one of %s" % ", ".join(options))
        return v

    def text(self, cfg, key, default, prefix="", limit=128):
        v = cfg.get(key, default)
        cfg[key] = v
        if v is None and default is None:
            self.bad(prefix + key, None, "is required")
        elif not isinstance(v, str) or len(v) > limit:
            self.bad(prefix + key, v, "must be a string of at most %d characters" % limit)
        return v

    def ident(self, cfg, key):
        try:
            check_id(key, cfg.get(key))
        except ContractError as e:
            self.bad(key, cfg.get(key), e.reason)

    def items(self, cfg, key, lo, hi):
        v = cfg.get(key)
        if not isinstance(v, list) or not lo <= len(v) <= hi:
            self.bad(key, v, "must be a list of %d to %d objects" % (lo, hi))
            return []
        out = []
        for i, item in enumerate(v):
            at = "%s[%d]" % (key, i)
            if isinstance(item, dict):
                out.append((at + ".", item))
            else:
                self.bad(at, item, "must be an object")
        return out


def validate(cfg):
    """(cfg with defaults filled in, [(field, value, message), ...])."""
    c = _Check()
    if not isinstance(cfg, dict):
        return cfg, [("config", cfg, "must be a JSON object")]
    cfg = dict(cfg)
    c.ident(cfg, "node")
    role = c.choice(cfg, "role", ROLES, None)
    link = c.choice(cfg, "link", LINKS, "modbus")
    c.num(cfg, "interval_s", 1, 65535, CAMERA_INTERVAL_S if role == "camera" else 900)
    c.text(cfg, "seq_path", "/seq")
    c.num(cfg, "seq_reserve", 1, 100000, 100)
    c.num(cfg, "watchdog_s", 0, 3600, 30)
    sleep = cfg.get("deep_sleep", False)
    cfg["deep_sleep"] = sleep
    if not isinstance(sleep, bool):
        c.bad("deep_sleep", sleep, "must be true or false")
    elif sleep and (link != "mqtt" or role in ("irrigation", "camera", "tracker")):
        c.bad("deep_sleep", sleep, "only an MQTT soil, weather or pest node may sleep (a Modbus slave must answer "
              "polls, an irrigation controller must watch its valves)")
    if link in LINKS:
        _check_in_image(c, LINK_CHECKS, "link", link, "link", cfg)
    bat, at = c.section(cfg, "battery", False)
    if bat:
        c.pin(bat, "adc", at)
        c.num(bat, "divider", 0.1, 100, 2.0, at, integer=False)
        c.num(bat, "vref", 0.5, 5.5, 3.3, at, integer=False)
    if role in ROLES:
        _check_in_image(c, ROLE_CHECKS, "role", role, "firmware", cfg, link)
    return cfg, c.errors


def _check_in_image(c, checks, key, name, what, *args):
    """Run checks[name](c, *args), or (a node image carries only its own role's and link's checks) say
    the image was built for another."""
    check = checks.get(name)
    if check is None:
        c.bad(key, name, "this image has no %s %s: build one with furrow firmware build" % (name, what))
    else:
        check(c, *args)


def _modbus(c, cfg):
    mb, at = c.section(cfg, "modbus", True)
    for key in ("tx", "rx", "de"):
        c.pin(mb, key, at)
    c.num(mb, "uart", 0, 3, 1, at)
    c.choice(mb, "baud", BAUDS, 9600, at)
    c.choice(mb, "parity", ("N", "E", "O"), "E", at)
    c.num(mb, "unit", 1, 247, 1, at)
    # The report queue's flash ring (firmware/report_queue.py); 0 slots: none, 1.0 behaviour.
    c.text(mb, "queue_path", "/queue", at)
    if c.num(mb, "queue_slots", 0, 1024, 64, at) == 1:
        c.bad(at + "queue_slots", 1, "must be 0 (no report queue) or at least 2")


def _mqtt(c, cfg):
    c.ident(cfg, "site")
    wifi, at = c.section(cfg, "wifi", True)
    c.text(wifi, "ssid", None, at, 32)
    c.text(wifi, "password", "", at, 64)
    mq, at = c.section(cfg, "mqtt", True)
    c.text(mq, "host", None, at, 253)
    c.num(mq, "port", 1, 65535, 1883, at)
    c.choice(mq, "encoding", ("json", "binary"), "json", at)
    c.num(mq, "keepalive_s", 10, 3600, 60, at)
    c.text(mq, "root", "furrow", at, 32)
    ob, at = c.section(cfg, "outbox", False)
    cfg["outbox"] = ob
    c.text(ob, "path", "/outbox", at)
    c.num(ob, "slots", 4, 1024, 64, at)
    c.num(ob, "slot_size", 128, 4096, 1024, at)


def _pest(c, cfg, link):
    for prefix, trap in c.items(cfg, "traps", 1, MAX_TRAPS):
        c.pin(trap, "pin", prefix)
        c.pin(trap, "lure_pin", prefix, required=False)  # service buttons on the trap
        c.pin(trap, "empty_pin", prefix, required=False)


def _soil(c, cfg, link):
    depths = []
    for prefix, p in c.items(cfg, "probes", 1, MAX_PROBES):
        depth = c.num(p, "depth_cm", 1, 1000, None, prefix)
        if depth in depths:
            c.bad(prefix + "depth_cm", depth, "two probes at the same depth")
        depths.append(depth)
        c.pin(p, "adc", prefix)
        dry = c.num(p, "dry_raw", 0, 65535, None, prefix)
        wet = c.num(p, "wet_raw", 0, 65535, None, prefix)
        if isinstance(dry, int) and dry == wet:
            c.bad(prefix + "wet_raw", wet, "must differ from dry_raw")
        c.num(p, "vwc_wet_pct", 1, 100, 45.0, prefix, integer=False)
        poly = p.get("poly")
        numbers = isinstance(poly, list) and not [x for x in poly if not isinstance(x, (int, float))]
        if poly is not None and (not numbers or not 2 <= len(poly) <= 6):
            c.bad(prefix + "poly", poly, "must be 2 to 6 numbers, the constant term first")
        c.pin(p, "onewire", prefix, required=False)
        rom = p.get("rom")
        if rom is not None:
            try:
                ok = len(rom) == 16 and len(bytes.fromhex(rom)) == 8
            except (TypeError, ValueError):
                ok = False
            if not ok:
                c.bad(prefix + "rom", rom, "must be 16 hex digits")


def _weather(c, cfg, link):
    rain, at = c.section(cfg, "rain", False)
    if rain:
        c.pin(rain, "pin", at)
        c.num(rain, "mm_per_tip", 0.01, 10, 0.2, at, integer=False)
    air, at = c.section(cfg, "air", False)
    if air:
        c.choice(air, "sensor", ("sht3x", "bme280"), None, at)
        c.pin(air, "scl", at)
        c.pin(air, "sda", at)
        c.num(air, "address", 8, 119, 0x44 if air.get("sensor") == "sht3x" else 0x76, at)
    wind, at = c.section(cfg, "wind", False)
    if wind:
        c.pin(wind, "pin", at)
        c.num(wind, "ms_per_hz", 0.01, 10, 0.667, at, integer=False)
        c.pin(wind, "vane_adc", at, required=False)
    for key in ("solar", "leaf"):
        s, at = c.section(cfg, key, False)
        if s:
            c.pin(s, "adc", at)
    canopy, at = c.section(cfg, "canopy", False)
    if canopy:  # the reflectance pair's four ADC pins: red up, nir up, red down, nir down
        for name in ("red_up", "nir_up", "red_down", "nir_down"):
            c.pin(canopy, name, at)
        c.num(canopy, "k_red", 0.01, 100, None, at, integer=False)
        c.num(canopy, "k_nir", 0.01, 100, None, at, integer=False)


def _camera(c, cfg, link):
    """A camera node (contract 1.3): photos over MQTT only, a frame size its driver knows."""
    if link != "mqtt":
        c.bad("link", link, "a camera node sends its photos over MQTT: images do not go over RS-485")
    cam, at = c.section(cfg, "camera", False)
    cfg["camera"] = cam
    from furrow.firmware.drivers.camera import FRAMESIZES, QUALITY_MAX, QUALITY_MIN
    c.choice(cam, "framesize", tuple(sorted(FRAMESIZES)), "vga", at)
    c.num(cam, "quality", QUALITY_MIN, QUALITY_MAX, 12, at)
    c.choice(cam, "kind", ("canopy", "trap"), "canopy", at)
    c.num(cam, "chunk_bytes", MIN_CHUNK_BYTES, MAX_CHUNK_BYTES, DEFAULT_CHUNK_BYTES, at)
    c.num(cam, "ack_wait_s", 5, 3600, 30, at)
    c.text(cam, "images_path", "/images", at)
    c.num(cam, "max_images", 1, 64, 16, at)
    c.num(cam, "max_bytes", 65536, 16777216, 1500000, at)


def _tracker(c, cfg, link):
    """A machine's GNSS tracker (issue 20): positions over MQTT only (a cellular modem or Wi-Fi)."""
    if link != "mqtt":
        c.bad("link", link, "a tracker sends its positions over MQTT: a machine is on no RS-485 bus")
    gnss, at = c.section(cfg, "gnss", True)
    c.num(gnss, "uart", 0, 3, 2, at)
    c.pin(gnss, "rx", at)
    c.choice(gnss, "baud", BAUDS, 9600, at)
    t, at = c.section(cfg, "tracker", True)
    c.pin(t, "implement_pin", at)
    c.choice(t, "implement_active", (0, 1), 0, at)  # a switch to ground against the pull-up
    c.pin(t, "engine_pin", at, required=False)
    c.choice(t, "engine_active", (0, 1), 1, at)
    c.num(t, "work_interval_s", 1, 60, 1, at)
    c.num(t, "parked_interval_s", 10, 86400, 300, at)
    c.num(t, "batch", 1, 60, 10, at)
    c.num(t, "flush_s", 1, 60, 15, at)
    slot = cfg.get("outbox", {}).get("slot_size")
    batch = t.get("batch")
    # a message of `batch` fixes (edge/position.py: 17 bytes each, 51 of header and CRC at most) and its topic
    if isinstance(slot, int) and isinstance(batch, int) and 51 + 17 * batch + 128 > slot:
        c.bad("tracker.batch", batch, "%d fixes do not fit an outbox slot of %d bytes: raise outbox.slot_size"
              % (batch, slot))


def _irrigation(c, cfg, link):
    for prefix, v in c.items(cfg, "valves", 1, MAX_VALVES):
        if "latch" in v:
            latch, at = c.section(v, "latch", True, prefix)
            if latch:
                c.pin(latch, "open_pin", at)
                c.pin(latch, "close_pin", at)
                c.num(latch, "pulse_ms", 10, 1000, 50, at)
        else:
            c.pin(v, "pin", prefix)
            if not isinstance(v.get("active_high", True), bool):
                c.bad(prefix + "active_high", v.get("active_high"), "must be true or false")
    c.num(cfg, "heartbeat_timeout_s", 10, 86400, 600)
    c.text(cfg, "journal_path", "/journal")
    if cfg.get("cmd_key") is not None:  # contract 1.1: commands must carry this node's MAC
        from furrow.edge.signing import parse_node_key  # loaded only for a node with a key

        try:
            parse_node_key("cmd_key", cfg["cmd_key"])
        except ContractError as e:
            c.bad("cmd_key", e.value, e.reason)
    flow, at = c.section(cfg, "flow", False)
    if flow:
        c.pin(flow, "pin", at)
        c.num(flow, "l_per_pulse", 0.0001, 1000, None, at, integer=False)
        c.num(flow, "no_flow_s", 10, 3600, 120, at)
        c.num(flow, "min_l_min", 0, 10000, 0.5, at, integer=False)
        c.num(flow, "leak_l_min", 0.01, 10000, 1.0, at, integer=False)
        c.num(flow, "leak_settle_s", 0, 3600, 60, at)
    pressure, at = c.section(cfg, "pressure", False)
    if pressure:
        c.pin(pressure, "adc", at)
        c.choice(pressure, "kind", ("4-20ma", "0.5-4.5v"), "0.5-4.5v", at)
        c.num(pressure, "full_scale_kpa", 1, 10000, 1000, at, integer=False)
    inj, at = c.section(cfg, "injector", False)
    if inj:  # contract 1.5: fertigation (firmware/injector.py)
        if not flow:
            c.bad("injector", "flow", "needs the flow meter (flow): the pump must never dose a dry line")
        c.pin(inj, "pin", at)
        c.num(inj, "rate_l_h", 0.01, 10000, None, at, integer=False)
        ec, at = c.section(inj, "ec", False, at)
        if ec:  # an in-line EC transmitter after the injection point, and the band it must stay in
            c.pin(ec, "adc", at)
            c.choice(ec, "kind", ("4-20ma", "0.5-4.5v"), "4-20ma", at)
            c.num(ec, "full_scale_ds_m", 0.1, 200, 10, at, integer=False)
            low = c.num(ec, "low_ds_m", 0, 200, None, at, integer=False)
            high = c.num(ec, "high_ds_m", 0, 200, None, at, integer=False)
            if isinstance(low, (int, float)) and isinstance(high, (int, float)) and not low < high:
                c.bad(at + "high_ds_m", high, "must be above low_ds_m (%s)" % low)
            c.num(ec, "settle_s", 0, 3600, 60, at)


# The role's and the link's checks by name: a node's image keeps only its own entries
# (furrow firmware build, _module_slice.own_entries).
ROLE_CHECKS = {"soil": _soil, "weather": _weather, "irrigation": _irrigation, "pest": _pest, "camera": _camera,
               "tracker": _tracker}
LINK_CHECKS = {"modbus": _modbus, "mqtt": _mqtt}


def describe(errors, limit=200):
    """The errors as one line for a status message: "field=value: message; ..."."""
    text = "; ".join("%s=%r: %s" % e for e in errors)
    return text if len(text) <= limit else text[: limit - 3] + "..."
