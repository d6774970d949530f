"""The decoders Furrow exposes to hostile input, as fuzz targets (see tests/fuzz_support.py).

Contract decoders (edge/): uplink JSON and binary, batch (with the cloud's
zlib inflation), command, ack, status, topic, the Modbus register images the
gateway reads (inputs, ack block) and the command mailbox a node decodes.
The firmware's Modbus RTU slave. File readers are in tests/fuzz_files.py.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from functools import cache
from typing import Any

from furrow.cloud.ingest import inflate, printable
from furrow.edge import batch, commands, modbus_map, payload, position, topics
from furrow.edge.cancel import make_cancel
from furrow.edge.crc import crc16_modbus
from furrow.edge.errors import ContractError
from furrow.edge.measurements import FAULTS, MEASUREMENTS, ROLES, measurements_of_role
from furrow.firmware.drivers import nmea
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.modbus_commands import CommandMailbox
from furrow.firmware.modbus_slave import RtuSlave
from tests.firmware_fakes import FakeValve, MemorySeq
from tests.fuzz_support import (
    Target,
    contract_reason,
    json_text_attack,
    mutate_bytes,
    mutate_structure,
    u16s,
)

T0 = 1_767_225_600_000
NODE_IDS = ("soil-01", "w", "irr-01", "a" * 32, "pest_7")


# -- valid samples -------------------------------------------------------------


def valid_uplink(rng: random.Random) -> dict:
    """A valid uplink of a random role with up to 12 readings, some faulted."""
    role = rng.choice(sorted(ROLES))
    readings, seen = [], set()
    for _ in range(rng.randrange(0, 13)):
        name = rng.choice(measurements_of_role(role))
        _, _, lo, hi, _, _ = MEASUREMENTS[name]
        depth = rng.choice((None, 0, 10, 30, 1000)) if role == "soil" else None
        channel = rng.choice((None, 1, 4, 254)) if role != "soil" else None
        if (name, depth, channel) in seen:
            continue
        seen.add((name, depth, channel))
        if rng.random() < 0.15:
            readings.append(payload.make_reading(name, None, depth, channel, rng.choice(sorted(FAULTS))))
        else:
            value = rng.choice((lo, hi, rng.uniform(lo, hi)))
            readings.append(payload.make_reading(name, value, depth, channel))
    return payload.make_uplink(
        rng.choice(NODE_IDS), role, rng.choice((0, 1, rng.randrange(2**32), payload.SEQ_MAX)),
        rng.choice((0, T0, payload.TS_MS_MAX, rng.randrange(payload.TS_MS_MAX))), readings,
        rng.choice(("0.1.0", "255.255.255", "1.2.3")), rng.choice((None, 0.0, 3.7, 65.535)),
        rng.choice((None, 0, -67, -128)))


def valid_command(rng: random.Random) -> dict:
    action = rng.choice(commands.ACTIONS)
    max_runtime = rng.randrange(1, commands.MAX_RUNTIME_LIMIT_S + 1)
    cmd = commands.make_command(
        f"c-{rng.randrange(2**64):x}", rng.choice(NODE_IDS), rng.randrange(1, commands.VALVE_MAX + 1),
        "close" if action == "close" else "open", rng.randrange(1, max_runtime + 1) if action != "close" else None,
        max_runtime, T0, T0 + 600_000)
    return make_cancel(cmd, T0) if action == commands.ACTION_CANCEL else cmd


def valid_ack(rng: random.Random) -> dict:
    return commands.make_ack(f"c-{rng.randrange(2**64):x}", rng.choice(NODE_IDS), rng.choice(commands.ACK_STATES),
                             T0, rng.choice((None, 0, 600)), rng.choice((None, 0.0, 412.5)),
                             rng.choice((None, "max runtime")))


def valid_status(rng: random.Random) -> dict:
    return commands.make_status(rng.choice(NODE_IDS), rng.choice(("online", "offline")), T0,
                                rng.choice((None, "0.1.0")), rng.choice((None, "config invalid")))


def valid_batch(rng: random.Random) -> dict:
    items = [batch.make_item(valid_uplink(rng), T0 + rng.randrange(1000), rng.choice(([], ["clock_corrected"])))
             for _ in range(rng.randrange(0, 6))]
    return batch.make_batch("demo", "gw-1", f"gw-1-{rng.randrange(10**6):06d}", T0, items)


# -- JSON documents: valid, structurally mutated, byte mutated, parser attacks --


def json_input(valid: Any, rng: random.Random) -> bytes:
    pick = rng.random()
    if pick < 0.05:
        return json_text_attack(rng)
    doc = json.loads(json.dumps(valid))
    if pick < 0.15:
        return json.dumps(doc).encode()
    if pick < 0.75:
        return json.dumps(mutate_structure(doc, rng)).encode()  # NaN and Infinity come out as such
    return mutate_bytes(json.dumps(doc).encode(), rng)


def _json_target(name: str, make, decode) -> Target:
    def generate(rng: random.Random) -> bytes:
        return json_input(make(rng), rng)

    def run(data: bytes) -> str:
        decode(data)
        return "accepted"

    return Target(name, generate, run, (ContractError,), contract_reason)


# -- binary uplinks: mutated, and mostly given a good CRC again so the mutation reaches the decoder --


def binary_input(rng: random.Random) -> bytes:
    data = payload.encode_binary(valid_uplink(rng))
    body = bytearray(data[:-2])
    pick = rng.random()
    if pick < 0.1:
        return data
    if pick < 0.5:  # header and reading fields set to edge values
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(body))
            body[i] = rng.choice((0, 1, 0x7F, 0x80, 0xFE, 0xFF, rng.randrange(256)))
    else:
        body = bytearray(mutate_bytes(bytes(body), rng))
    if rng.random() < 0.85:
        return bytes(body) + struct.pack("<H", crc16_modbus(body))
    return bytes(body) + data[-2:]


def _decode_uplink(data: bytes) -> str:
    payload.decode(data)
    return "accepted"


# -- batches as the cloud receives them: JSON, maybe zlib, inflated with the 16 MiB limit --


@cache
def _zlib_bomb() -> bytes:
    return zlib.compress(b'{"v": "1.0", "items": [' + b" " * (17 * 1024 * 1024) + b"]}", 9)


def batch_input(rng: random.Random) -> bytes:
    data = json_input(valid_batch(rng), rng)
    pick = rng.random()
    if pick < 0.15:
        return zlib.compress(data)
    if pick < 0.2:
        return mutate_bytes(zlib.compress(data), rng)
    if pick < 0.201:
        return _zlib_bomb()
    return data


def _decode_batch(data: bytes) -> str:
    """What cloud.ingest.ingest_batch does before the store: inflate, envelope, every item."""
    b = batch.decode_batch(inflate(data))
    _, _, _, items = batch.validate_envelope(b)
    bad = 0
    for i, item in enumerate(items):
        try:
            batch.validate_item(item, i)
        except ContractError as e:
            contract_reason(e)
            json.dumps(printable(e.value))  # what ingest puts in its answer for the item
            bad += 1
    return "accepted" if not bad else "accepted:with-rejected-items"


# -- topics --------------------------------------------------------------------


def topic_input(rng: random.Random) -> str:
    kind = rng.choice(("node", "gw"))
    leaf = rng.choice(("up", "status", "cmd", "ack") if kind == "node" else ("batch", "status", "cmd", "ack"))
    t = f"furrow/v1/demo/{kind}/{rng.choice(NODE_IDS)}/{leaf}"
    if rng.random() < 0.8:
        raw = mutate_bytes(t.encode(), rng, [b"/", b"+", b"#", b"//", b"v2"])
        t = raw.decode("utf-8", "replace")
    return t


def _decode_topic(t: str) -> str:
    topics.parse_topic(t)
    return "accepted"


# -- Modbus register images the gateway reads, and the command mailbox a node decodes --


def _mutate_regs(regs: list[int], rng: random.Random) -> list[int]:
    regs = list(regs)
    for _ in range(rng.randrange(1, 6)):
        op = rng.random()
        if op < 0.75 and regs:
            regs[rng.randrange(len(regs))] = u16s(rng)
        elif op < 0.85:
            del regs[rng.randrange(len(regs) + 1):]
        else:
            regs.extend(u16s(rng) for _ in range(rng.randrange(1, 5)))
    return regs


def inputs_regs(rng: random.Random) -> list[int]:
    up = valid_uplink(rng)
    if up["role"] == "soil":  # a soil node serves at most four depths
        depths = sorted({r.get("depth_cm") for r in up["readings"]} - {None})[:4]
        up["readings"] = [r for r in up["readings"] if r.get("depth_cm") in depths]
    regs = modbus_map.encode_inputs(up["role"], up["seq"], up["ts_ms"], up["fw"], up["readings"],
                                    up["bat_v"], up["rssi_dbm"])
    return regs if rng.random() < 0.1 else _mutate_regs(regs, rng)


def _decode_inputs(regs: list[int]) -> str:
    modbus_map.decode_inputs("soil-01", regs)
    return "accepted"


def ack_regs(rng: random.Random) -> list[int]:
    regs = modbus_map.encode_ack_regs(valid_ack(rng), rng.randrange(0x10000))
    return regs if rng.random() < 0.1 else _mutate_regs(regs, rng)


def _decode_ack_regs(regs: list[int]) -> str:
    counter, fields = modbus_map.decode_ack_regs(regs)
    if fields is not None:  # what the poller does next: the ack goes through the contract
        commands.make_ack(fields["id"], "irr-01", fields["state"], T0, fields["runtime_s"], fields["volume_l"])
    return "accepted" if fields else "accepted:no-ack-yet"


def command_regs(rng: random.Random) -> list[int]:
    cmd = valid_command(rng)
    regs = modbus_map.encode_command_regs(cmd)
    return regs if rng.random() < 0.1 else _mutate_regs(regs, rng)


def _decode_command_regs(regs: list[int]) -> str:
    commands.validate_command(modbus_map.decode_command_regs("irr-01", regs))
    return "accepted"


# -- the firmware's RTU slave, on a real irrigation node with its command mailbox --

UNIT = 1


def _frame(unit: int, pdu: bytes) -> bytes:
    body = bytes([unit]) + pdu
    return body + struct.pack("<H", crc16_modbus(body))


def rtu_request(rng: random.Random) -> bytes:
    if rng.random() < 0.15:  # a master's plain poll of the input registers, so the fuzz reaches replies too
        return _frame(UNIT, struct.pack(">BHH", 4, 0, rng.randrange(1, 28)))
    unit = rng.choice((UNIT, UNIT, UNIT, 0, 2, 247, 255))
    fc = rng.choice((1, 2, 3, 4, 5, 6, 15, 16, 16, 0, 7, 0x2B, 0x81, rng.randrange(256)))
    address = rng.choice((0, 1, 15, 16, 32, 58, 59, 111, 112, 133, 134, 0xFFFF, rng.randrange(0x10000)))
    count = rng.choice((0, 1, 2, 4, 27, 112, 123, 124, 125, 126, 1968, 1969, 2000, 2001, 0xFFFF))
    if fc in (5, 6):
        pdu = struct.pack(">BHH", fc, address, rng.choice((0xFF00, 0, 1, rng.randrange(0x10000))))
    elif fc == 16:
        if rng.random() < 0.3:  # a real command into the mailbox
            address, values = modbus_map.CMD_BASE, modbus_map.encode_command_regs(valid_command(rng))
            values = values if rng.random() < 0.5 else _mutate_regs(values, rng)
        else:
            values = [u16s(rng) for _ in range(min(count, 130))]
        byte_count = 2 * len(values) if rng.random() < 0.8 else rng.randrange(256)
        pdu = struct.pack(">BHHB", fc, address, len(values) if rng.random() < 0.9 else count, byte_count & 0xFF)
        pdu += struct.pack(f">{len(values)}H", *values)
    elif fc == 15:
        nbytes = (count + 7) // 8 if rng.random() < 0.8 else rng.randrange(256)
        pdu = struct.pack(">BHHB", fc, address, count, nbytes & 0xFF) + bytes(rng.randrange(256) for _ in
                                                                               range(min(nbytes, 250)))
    else:
        pdu = struct.pack(">BHH", fc, address, count)
    frame = _frame(unit, pdu)
    if rng.random() < 0.3:
        frame = mutate_bytes(frame, rng)
    return frame


def rtu_input(rng: random.Random) -> list[tuple[bytes, int]]:
    """A stream of requests (and noise) cut into chunks, each with the microseconds
    since the previous chunk (below or above the 3.5-character gap)."""
    frames = [rtu_request(rng) for _ in range(rng.randrange(1, 5))]
    if rng.random() < 0.1:
        frames.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
    chunks = []
    for frame in frames:
        # mostly a silence before each frame, as a master leaves; sometimes frames run together
        gap = 100_000 if rng.random() < 0.7 else rng.choice((0, 100, 1000, 4011, 5000))
        i = 0
        while i < len(frame):
            j = i + rng.choice((1, 3, 8, 64, len(frame)))
            chunks.append((frame[i:j], gap if i == 0 else rng.choice((0, 100, 1000, 4011, 5000, 100_000))))
            i = j
    chunks.append((b"", 100_000))  # the line goes idle: a frame in progress is judged
    return chunks


def _rtu_rig() -> RtuSlave:
    node = IrrigationNode("irr-01", MemorySeq(), [FakeValve(), FakeValve()], interval_ms=60_000)
    node.tick(T0)
    box = CommandMailbox(node)
    return RtuSlave(UNIT, box.inputs, box.holding, coils=node.coils(), on_write=box.on_write)


def _decode_rtu(chunks: list[tuple[bytes, int]]) -> str:
    """Feed the chunks; every reply must be a well-formed frame for this unit."""
    slave = _rtu_rig()
    now, labels = 0, []
    for data, delta in chunks:
        now += delta
        reply = slave.feed(data, now)
        while reply is not None:
            assert 5 <= len(reply) <= 256, f"reply of {len(reply)} bytes"
            crc = crc16_modbus(reply[:-2])
            assert reply[-2:] == bytes((crc & 0xFF, crc >> 8)), "reply with a bad CRC"
            assert reply[0] == UNIT, f"reply for unit {reply[0]}"
            labels.append(f"exception-{reply[2]:02d}" if reply[1] & 0x80 else "reply")
            reply = slave.feed(b"", now)  # bytes behind a complete request
    quiet = [k for k in ("crc_errors", "other_unit", "discarded", "broadcasts") if slave.stats[k]]
    if "reply" in labels:
        return "accepted"
    if labels:
        return "rejected:" + labels[0]
    return "rejected:" + (quiet[0] if quiet else "no-complete-frame")


# -- the tracker: NMEA from a GNSS receiver's UART, and the position messages it sends --


def _nmea_sentence(body: str) -> bytes:
    return b"$%s*%02X\r\n" % (body.encode(), nmea.checksum(body.encode()))


def nmea_input(rng: random.Random) -> bytes:
    s = rng.randrange(86_400)
    t = f"{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}.{rng.randrange(100):02d}"
    lat = f"{rng.randrange(90):02d}{rng.uniform(0, 60):08.5f}"
    lon = f"{rng.randrange(180):03d}{rng.uniform(0, 60):08.5f}"
    ns, ew = rng.choice("NS"), rng.choice("EW")
    good = (_nmea_sentence(f"GNGGA,{t},{lat},{ns},{lon},{ew},{rng.randrange(9)},{rng.randrange(40)},0.8,41.0,M,-3,M,,")
            + _nmea_sentence(f"GNRMC,{t},A,{lat},{ns},{lon},{ew},{rng.uniform(0, 20):.2f},{rng.uniform(0, 360):.1f},"
                             f"{rng.randrange(1, 29):02d}{rng.randrange(1, 13):02d}26,,,{rng.choice('ADERN')}"))
    return good if rng.random() < 0.1 else mutate_bytes(good, rng)


def _decode_nmea(data: bytes) -> str:
    reader = nmea.NmeaReader()
    fixes = [f for i in range(0, len(data), 7) for f in reader.feed(data[i:i + 7])]  # a UART's chunks
    if fixes:
        return "accepted"
    bad = [k for k, n in reader.errors.items() if n]
    return "rejected:" + (bad[0] if bad else "no-fix")


def positions_input(rng: random.Random) -> bytes:
    t0 = rng.randrange(1, 9 * 10**12 - 10**6)
    fixes = [{"t_ms": t0 + 1000 * i, "lat_e7": rng.randrange(-900000000, 900000001),
              "lon_e7": rng.randrange(-1800000000, 1800000001), "speed_cms": rng.randrange(5000),
              "course_d10": rng.choice((None, rng.randrange(3600))), "quality": rng.choice((None, rng.randrange(9))),
              "sats": rng.choice((None, rng.randrange(40))), "valid": rng.random() < 0.9,
              "implement_down": rng.random() < 0.5, "engine_on": rng.random() < 0.5}
             for i in range(rng.randrange(1, position.MAX_FIXES + 1))]
    data = position.encode_positions("trk-01", rng.randrange(2**32), fixes)
    if rng.random() < 0.1:
        return data
    body = bytearray(mutate_bytes(data[:-2], rng))
    return bytes(body) + (struct.pack("<H", crc16_modbus(body)) if rng.random() < 0.85 else data[-2:])


def _decode_positions(data: bytes) -> str:
    position.decode_positions(data)
    return "accepted"


TARGETS: dict[str, Target] = {}


def _add(t: Target) -> None:
    TARGETS[t.name] = t


_add(Target("uplink_json", lambda rng: json_input(valid_uplink(rng), rng), _decode_uplink, (ContractError,),
            contract_reason, "edge.payload.decode on JSON uplinks (gateway MQTT listener)"))
_add(Target("uplink_binary", binary_input, _decode_uplink, (ContractError,), contract_reason,
            "edge.payload.decode on compact binary uplinks"))
_add(Target("batch", batch_input, _decode_batch, (ContractError,), contract_reason,
            "cloud.ingest.inflate + edge.batch envelope and items (cloud ingest, MQTT and HTTPS)"))
_add(_json_target("command", valid_command, commands.decode_command))
_add(_json_target("ack", valid_ack, commands.decode_ack))
_add(_json_target("status", valid_status, commands.decode_status))
_add(Target("topic", topic_input, _decode_topic, (ContractError,), contract_reason, "edge.topics.parse_topic"))
_add(Target("modbus_inputs", inputs_regs, _decode_inputs, (ContractError,), contract_reason,
            "edge.modbus_map.decode_inputs: the register image the gateway's Modbus master reads"))
_add(Target("modbus_ack_regs", ack_regs, _decode_ack_regs, (ContractError,), contract_reason,
            "edge.modbus_map.decode_ack_regs: the ack block the gateway reads from an irrigation node"))
_add(Target("modbus_command_regs", command_regs, _decode_command_regs, (ContractError,), contract_reason,
            "edge.modbus_map.decode_command_regs + validate_command: the mailbox a node decodes"))
_add(Target("rtu_slave", rtu_input, _decode_rtu, (), contract_reason,
            "firmware.modbus_slave.RtuSlave.feed on an irrigation node with its command mailbox"))
_add(Target("nmea", nmea_input, _decode_nmea, (), contract_reason,
            "firmware.drivers.nmea.NmeaReader.feed: a GNSS receiver's sentences on the tracker node"))
_add(Target("positions", positions_input, _decode_positions, (ContractError,), contract_reason,
            "edge.position.decode_positions: a tracker's position messages"))
for _name in ("command", "ack", "status"):
    TARGETS[_name] = Target(_name, TARGETS[_name].generate, TARGETS[_name].decode, (ContractError,),
                            contract_reason, f"edge.commands.decode_{_name}")
