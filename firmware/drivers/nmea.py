"""NMEA 0183 from a GNSS receiver's UART: sentences assembled from any chunking, checksums checked,
RMC and GGA parsed into fixes with their quality.

Format (NMEA 0183 version 4.11, as receivers document it, e.g. u-blox "M8 Receiver Description"
section 31.2): ``$<talker><type>,<field>,...*<hh>\\r\\n``, at most 82 characters; ``hh`` is the XOR of
every byte between ``$`` and ``*`` in two hex digits. Talkers GP (GPS), GL (GLONASS), GA (Galileo),
GB/BD (BeiDou) and GN (several systems) are all read.

* RMC: UTC time hhmmss.ss, status (A valid, V warning), latitude ddmm.mmmm and N/S, longitude
  dddmm.mmmm and E/W, speed over ground in knots, course over ground in degrees true, date ddmmyy,
  and from NMEA 2.3 the mode (A autonomous, D differential, E estimated, N no fix ...).
* GGA: UTC time, latitude, longitude, fix quality (0 none, 1 GPS, 2 DGPS, 3 PPS, 4 RTK fixed,
  5 RTK float, 6 dead reckoning, 7 manual, 8 simulation), satellites used, HDOP, altitude.

Positions are kept as integers of 1e-7 degree (``lat_e7``), converted from the text with integer
arithmetic: a board's single-precision float holds only ~7 digits, 0.5 m at this latitude. Speed is
kept in cm/s (1 knot = 1852 m / 3600 s = 51.444 cm/s, the international knot), course in tenths
of a degree. Nothing here touches the UART: ``NmeaReader.feed(bytes)`` takes what the board read.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


MAX_SENTENCE = const(82)  # NMEA 0183: '$' to '\n' inclusive
QUALITY_NONE = const(0)
QUALITY_DEAD_RECKONING = const(6)
# GGA quality values that are a measured position (1..5); 6-8 are estimated, manual or simulated
MEASURED_QUALITIES = (1, 2, 3, 4, 5)
_CM_S_PER_KNOT_E3 = const(51444)  # 51.444 cm/s per knot, times 1000


class NmeaError(ValueError):
    """A sentence that breaks NMEA 0183: `field` says where, `value` what was there."""

    def __init__(self, field, value, reason):
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__("%s=%r: %s" % (field, value, reason))


def checksum(body):
    """XOR of the bytes between '$' and '*'."""
    x = 0
    for b in body:
        x ^= b
    return x


def split_sentence(line):
    """The fields of one sentence (bytes, without CR LF): [type, field1, ...] after its checksum is
    checked, the talker dropped (GNRMC -> RMC). NmeaError naming the fault otherwise."""
    if len(line) < 9 or line[0] != 0x24:  # '$'
        raise NmeaError("sentence", line[:12], "does not start with $")
    star = line.find(b"*")
    if star < 0 or len(line) != star + 3:
        raise NmeaError("checksum", line[-4:], "missing: a sentence ends *hh")
    try:
        given = int(line[star + 1:], 16)
    except ValueError:
        raise NmeaError("checksum", line[star + 1:], "is not two hex digits") from None
    body = line[1:star]
    if checksum(body) != given:
        raise NmeaError("checksum", line[star + 1:], "does not match the sentence (XOR %02X)" % checksum(body))
    try:
        fields = body.decode().split(",")
    except UnicodeError:
        raise NmeaError("sentence", line[:12], "holds bytes that are not ASCII") from None
    if len(fields[0]) != 5:
        raise NmeaError("address", fields[0], "must be a talker and a type, like GNRMC")
    fields[0] = fields[0][2:]
    return fields


def degrees_e7(text, hemi, degree_digits, field):
    """ddmm.mmmm (or dddmm.mmmm) and N/S/E/W to signed 1e-7 degrees, in integers. None when empty."""
    if not text:
        return None
    dot = text.find(".")
    whole = text if dot < 0 else text[:dot]
    frac = "" if dot < 0 else text[dot + 1:]
    if len(whole) != degree_digits + 2 or not whole.isdigit() or (frac and not frac.isdigit()):
        raise NmeaError(field, text, "must be %s with its minutes" % ("d" * degree_digits + "mm.mmmm"))
    frac = (frac + "00000")[:5]  # minutes to 1e-5 (2 cm); more digits are below the receiver's noise
    minutes_e5 = int(whole[degree_digits:]) * 100000 + int(frac)
    if minutes_e5 >= 6000000:
        raise NmeaError(field, text, "has 60 or more minutes")
    value = int(whole[:degree_digits]) * 10000000 + (minutes_e5 * 100 + 30) // 60
    limit = 900000000 if degree_digits == 2 else 1800000000
    if value > limit:
        raise NmeaError(field, text, "is beyond %d degrees" % (limit // 10000000))
    if hemi in ("S", "W"):
        return -value
    if hemi not in ("N", "E"):
        raise NmeaError(field + "_hemisphere", hemi, "must be N, S, E or W")
    return value


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a Gregorian date (H. Hinnant, "chrono-compatible low-level date
    algorithms", days_from_civil), so no time module is needed."""
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _time_ms(text, field):
    """hhmmss(.sss) to ms since midnight."""
    if len(text) < 6 or not text[:6].isdigit():
        raise NmeaError(field, text, "must be hhmmss.ss")
    h, mi, s = int(text[0:2]), int(text[2:4]), int(text[4:6])
    frac = text[7:10] if len(text) > 7 and text[6] == "." else ""
    if h > 23 or mi > 59 or s > 60 or (frac and not frac.isdigit()):
        raise NmeaError(field, text, "is not a time of day")
    return ((h * 60 + mi) * 60 + s) * 1000 + (int((frac + "000")[:3]) if frac else 0)


def _number(text, field, scale):
    """A decimal field times `scale`, rounded to an integer; None when empty."""
    if not text:
        return None
    try:
        return int(round(float(text) * scale))
    except ValueError:
        raise NmeaError(field, text, "is not a number") from None


def parse_rmc(f):
    """An RMC's fields to {t_ms, valid, lat_e7, lon_e7, speed_cms, course_d10, mode}."""
    if len(f) < 10:
        raise NmeaError("RMC", len(f) - 1, "needs at least 9 fields")
    date = f[9]
    if len(date) != 6 or not date.isdigit():
        raise NmeaError("RMC.date", date, "must be ddmmyy")
    # two-digit years: GPS time began in 1980, so 80..99 are the 1900s (until 2080)
    yy = int(date[4:6])
    day, month, year = int(date[0:2]), int(date[2:4]), (1900 if yy >= 80 else 2000) + yy
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise NmeaError("RMC.date", date, "is not a date")
    t_ms = days_from_civil(year, month, day) * 86400000 + _time_ms(f[1], "RMC.time")
    knots_e3 = _number(f[7], "RMC.speed", 1000)
    mode = f[12] if len(f) > 12 and f[12] else None
    valid = f[2] == "A" and mode != "N"
    return {"t_ms": t_ms, "valid": valid, "lat_e7": degrees_e7(f[3], f[4], 2, "RMC.lat"),
            "lon_e7": degrees_e7(f[5], f[6], 3, "RMC.lon"),
            "speed_cms": None if knots_e3 is None else (knots_e3 * _CM_S_PER_KNOT_E3 + 500000) // 1000000,
            "course_d10": _number(f[8], "RMC.course", 10), "mode": mode}


def parse_gga(f):
    """A GGA's fields to {tod_ms, quality, sats, hdop_d10, lat_e7, lon_e7, alt_dm}."""
    if len(f) < 10:
        raise NmeaError("GGA", len(f) - 1, "needs at least 9 fields")
    quality = f[6]
    if not (len(quality) == 1 and quality.isdigit()):
        raise NmeaError("GGA.quality", quality, "must be one digit 0..8")
    return {"tod_ms": _time_ms(f[1], "GGA.time") if f[1] else None, "quality": int(quality),
            "sats": int(f[7]) if f[7].isdigit() else None, "hdop_d10": _number(f[8], "GGA.hdop", 10),
            "lat_e7": degrees_e7(f[2], f[3], 2, "GGA.lat"), "lon_e7": degrees_e7(f[4], f[5], 3, "GGA.lon"),
            "alt_dm": _number(f[9], "GGA.alt", 10)}


class NmeaReader:
    """Sentences from a UART's bytes, in any chunking: `feed(data)` returns the fixes completed by it.

    A fix is emitted on each RMC (it carries the date) with the quality, satellites and HDOP of the GGA
    of the same second when one came first (receivers send GGA before RMC each epoch; an RMC without
    one gets quality None). Bad sentences are counted by reason in `errors` and skipped: one bad line
    never stops the stream. A line longer than MAX_SENTENCE is dropped whole (`errors["overlong"]`).
    """

    def __init__(self):
        self._line = bytearray()
        self._skipping = False
        self._gga = None
        self.errors = {"checksum": 0, "malformed": 0, "overlong": 0}
        self.sentences = 0
        self.last_error = None

    def feed(self, data):
        fixes = []
        for b in data:
            if b == 0x24:  # '$' starts a sentence, even after garbage
                self._line = bytearray(b"$")
                self._skipping = False
            elif b == 0x0A or b == 0x0D:
                if self._line and not self._skipping:
                    fix = self._sentence(bytes(self._line))
                    if fix is not None:
                        fixes.append(fix)
                self._line = bytearray()
                self._skipping = False
            elif self._skipping or not self._line:
                continue  # bytes outside a sentence: noise before a '$'
            elif len(self._line) >= MAX_SENTENCE - 2:
                self.errors["overlong"] += 1
                self._skipping = True
                self._line = bytearray()
            else:
                self._line.append(b)
        return fixes

    def _sentence(self, line):
        try:
            f = split_sentence(line)
            if f[0] == "GGA":
                self._gga = parse_gga(f)
                self.sentences += 1
                return None
            if f[0] != "RMC":
                self.sentences += 1
                return None  # GSA, GSV, VTG ...: not needed for a track
            fix = parse_rmc(f)
        except NmeaError as e:
            self.errors["checksum" if e.field == "checksum" else "malformed"] += 1
            self.last_error = e
            return None
        self.sentences += 1
        gga = self._gga
        same_epoch = gga is not None and gga["tod_ms"] == fix["t_ms"] % 86400000
        fix["quality"] = gga["quality"] if same_epoch else None
        fix["sats"] = gga["sats"] if same_epoch else None
        fix["hdop_d10"] = gga["hdop_d10"] if same_epoch else None
        fix["alt_dm"] = gga["alt_dm"] if same_epoch else None
        if same_epoch and gga["quality"] == QUALITY_NONE:
            fix["valid"] = False
        return fix
