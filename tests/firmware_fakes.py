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
