"""The GNSS receiver's NMEA 0183 parser (firmware/drivers/nmea.py): checksums, RMC and GGA fields, fix
quality, any chunking of the UART's bytes, garbage that never stops the stream; the same fixes on the
real MicroPython runtime; and a fuzz run that no input crashes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furrow.firmware.drivers.nmea import NmeaError, NmeaReader, checksum, days_from_civil, degrees_e7, split_sentence
from tests.mplib import board_lib

# The classic examples from the NMEA 0183 descriptions receivers and references quote.
RMC = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"
GGA = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"


def sentence(body: str) -> bytes:
    """A sentence with its checksum."""
    return b"$%s*%02X" % (body.encode(), checksum(body.encode()))


def stream(*lines: bytes) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


def test_the_checksum_of_the_textbook_sentences():
    """XOR of the bytes between $ and *: 0x6A and 0x47 as printed."""
    assert checksum(RMC[1:-3]) == 0x6A and checksum(GGA[1:-3]) == 0x47


def test_an_rmc_after_its_gga_is_one_fix_with_quality():
    """48 07.038 N 11 31.000 E at 12:35:19 on 1994-03-23, 22.4 kn = 1152 cm/s, course 84.4, GPS fix, 8 sats."""
    (fix,) = NmeaReader().feed(stream(GGA, RMC))
    assert fix["t_ms"] == int(datetime(1994, 3, 23, 12, 35, 19, tzinfo=UTC).timestamp() * 1000)
    assert (fix["lat_e7"], fix["lon_e7"]) == (481173000, 115166667)
    assert (fix["speed_cms"], fix["course_d10"]) == (1152, 844)
    assert (fix["valid"], fix["quality"], fix["sats"], fix["hdop_d10"], fix["alt_dm"]) == (True, 1, 8, 9, 5454)


def test_southern_and_western_positions_are_negative_and_exact_to_1e7():
    """4807.0380 S 01131.0000 W; 3559.99999 N (the integer sum keeps the last digit a float would lose)."""
    assert degrees_e7("4807.0380", "S", 2, "lat") == -481173000
    assert degrees_e7("01131.0000", "W", 3, "lon") == -115166667
    assert degrees_e7("3559.99999", "N", 2, "lat") == 359999998
    for text, hemi in (("4860.000", "N"), ("9100.000", "N"), ("48x7.0", "N"), ("4807.038", "Q")):
        with pytest.raises(NmeaError):
            degrees_e7(text, hemi, 2, "lat")


def test_a_gga_of_another_second_gives_no_quality_and_quality_zero_is_not_valid():
    """RMC without a GGA of its epoch: quality None; a GGA saying no fix makes the RMC not valid."""
    (fix,) = NmeaReader().feed(stream(GGA.replace(b"123519", b"123518").replace(b"*47", b"*"), RMC))
    assert fix["quality"] is None
    gga0 = sentence("GNGGA,123519,4807.038,N,01131.000,E,0,00,99.9,,M,,M,,")
    (fix,) = NmeaReader().feed(stream(gga0, sentence("GNRMC,123519,A,4807.038,N,01131.000,E,0.0,,230394,,,A")))
    assert (fix["quality"], fix["valid"], fix["course_d10"]) == (0, False, None)


def test_rtk_quality_and_mode_n_are_kept():
    """GGA quality 4 (RTK fixed) is kept; an RMC with mode N is not valid even when its status says A."""
    r = NmeaReader()
    (fix,) = r.feed(stream(sentence("GNGGA,060000.00,3600.00000,N,11512.00000,E,4,21,0.6,41.0,M,-3.1,M,1.0,0000"),
                           sentence("GNRMC,060000.00,A,3600.00000,N,11512.00000,E,4.1,90.0,200426,,,R")))
    assert (fix["quality"], fix["mode"], fix["valid"]) == (4, "R", True)
    (fix,) = r.feed(stream(sentence("GNRMC,060001.00,A,3600.00000,N,11512.00000,E,4.1,90.0,200426,,,N")))
    assert fix["valid"] is False


def test_bad_sentences_are_counted_and_skipped_never_stopping_the_stream():
    """A wrong checksum, a missing one, garbage, an overlong line and a malformed date are counted by reason;
    the good RMC after them still comes out."""
    r = NmeaReader()
    bad_sum = RMC[:-2] + b"00"
    fixes = r.feed(stream(bad_sum, RMC[:-3], b"\x00\xffnoise", b"$GP" + b"A" * 200,
                          sentence("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,321394,,"), RMC))
    assert len(fixes) == 1
    assert r.errors == {"checksum": 2, "malformed": 1, "overlong": 1}
    assert r.last_error.field == "RMC.date"


@pytest.mark.parametrize("size", [1, 2, 7, 64])
def test_any_chunking_of_the_uart_gives_the_same_fixes(size):
    """Bytes fed one at a time or in chunks of 2, 7, 64 give the fixes fed whole."""
    data = stream(GGA, RMC, sentence("GPVTG,084.4,T,,M,022.4,N,041.5,K,A"), GGA, RMC)
    whole = NmeaReader().feed(data)
    r = NmeaReader()
    chunked = [f for i in range(0, len(data), size) for f in r.feed(data[i:i + size])]
    assert chunked == whole and len(whole) == 2


def test_days_from_civil_matches_the_calendar():
    """Against CPython's calendar on leap days, century years and 2000-2099, where ddmmyy lives."""
    for y, m, d in ((1970, 1, 1), (2000, 2, 29), (2100, 3, 1), (2026, 12, 31), (1994, 3, 23)):
        assert days_from_civil(y, m, d) == (datetime(y, m, d, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days


def test_split_sentence_names_the_fault():
    """No '$', no '*hh', non-hex digits and a short address each name their field."""
    for line, field in ((b"GPRMC,1*00", "sentence"), (b"$GPRMC,123519", "checksum"), (b"$GPRMC,1*ZZ", "checksum"),
                        (sentence("RMC,1,2,3"), "address")):
        with pytest.raises(NmeaError) as e:
            split_sentence(line)
        assert e.value.field == field


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=120), st.sampled_from([GGA, RMC, b"\r\n", b"$", b"*", b","])),
                max_size=30))
def test_fuzz_no_input_raises(chunks):
    """Any bytes in any chunks: the reader returns fixes or counts errors, never raises."""
    r = NmeaReader()
    for c in chunks:
        for fix in r.feed(c):
            assert -900000000 <= fix["lat_e7"] <= 900000000 if fix["lat_e7"] is not None else True


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.,-ANSEWMV*", max_size=80))
def test_fuzz_checksummed_garbage_is_refused_cleanly(body):
    """Sentences with a right checksum but any fields: a fix or a counted error, never an exception."""
    r = NmeaReader()
    r.feed(stream(sentence("GNRMC," + body), sentence("GNGGA," + body)))
    assert r.sentences + sum(r.errors.values()) == 2


ON_MICROPYTHON = r"""
import json
from furrow.firmware.drivers.nmea import NmeaReader
data = bytes.fromhex(%r)
r = NmeaReader()
fixes = []
for i in range(0, len(data), 5):
    fixes += r.feed(data[i:i + 5])
print(json.dumps({"fixes": fixes, "errors": r.errors}))
"""


@pytest.mark.micropython
def test_the_parser_gives_the_same_fixes_on_micropython(micropython, tmp_path):
    """The real MicroPython runtime reads the same stream (good, bad, RTK) to exactly CPython's fixes."""
    data = stream(GGA, RMC, RMC[:-2] + b"00", b"$GP" + b"A" * 100,
                  sentence("GNGGA,060000.00,3600.00000,S,11512.00000,W,4,21,0.6,-41.0,M,-3.1,M,1.0,0000"),
                  sentence("GNRMC,060000.00,A,3600.00000,S,11512.00000,W,4.1,90.0,200426,,,R"))
    expected = NmeaReader()
    want = {"fixes": expected.feed(data), "errors": expected.errors}
    lib = board_lib(tmp_path / "lib")
    result = micropython.run(ON_MICROPYTHON % data.hex(), lib_dir=lib, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got == json.loads(json.dumps(want)) and len(got["fixes"]) == 2
