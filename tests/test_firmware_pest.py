"""Pest-trap node core: catches per trap, trap modules, service visits, its register map."""

import pytest

from furrow.edge import modbus_map, payload
from furrow.firmware.modbus_slave import RtuSlave
from furrow.firmware.pest_node import PestNode
from tests.firmware_fakes import MemorySeq

T0 = 1_767_225_600_000
HOUR = 3_600_000
DAY = 24 * HOUR


def _by(up: dict, name: str) -> dict:
    return {r["channel"]: r["value"] for r in up["readings"] if r["name"] == name}


def test_counter_pulses_are_debounced_and_counted_per_report() -> None:
    """Pulses per trap are counted once each (bounces ignored) and each report carries the catches since the last."""
    node = PestNode("trap-01", MemorySeq(), traps=2, interval_ms=HOUR)
    assert _by(node.tick(T0)[0], "trap_count") == {1: 0, 2: 0}
    for t in (0, 5, 100, 300):  # the 5 ms one is contact bounce
        node.on_catch(1, T0 + 1000 + t)
    node.on_catch(2, T0 + 2000)
    [up] = node.tick(T0 + HOUR)
    assert _by(up, "trap_count") == {1: 3, 2: 1} and node.stats["bounces"] == 1
    assert _by(node.tick(T0 + 2 * HOUR)[0], "trap_count") == {1: 0, 2: 0}
    assert payload.decode(payload.encode_binary(up)) == up


def test_trap_module_totals_and_module_restart() -> None:
    """A trap module's running total becomes catches per report; a total that drops is a restarted module."""
    node = PestNode("trap-01", MemorySeq(), traps=1, interval_ms=HOUR)
    node.on_total(1, 40)  # baseline, not catches
    node.on_total(1, 47)
    assert _by(node.tick(T0)[0], "trap_count") == {1: 7}
    node.on_total(1, 3)  # restarted at 0, then caught 3
    assert _by(node.tick(T0 + HOUR)[0], "trap_count") == {1: 3} and node.stats["module_resets"] == 1


def test_service_visits_report_lure_age_and_catches_since_emptied() -> None:
    """After a lure change and an emptying, reports carry lure_age_d and trap_total; before them, neither."""
    node = PestNode("trap-01", MemorySeq(), traps=2, interval_ms=12 * HOUR)
    [up] = node.tick(T0)
    assert _by(up, "lure_age_d") == {} and _by(up, "trap_total") == {}
    node.on_service(1, "lure_changed", T0 + HOUR)
    node.on_service(1, "trap_emptied", T0 + HOUR)
    for t in range(4):
        node.on_catch(1, T0 + 2 * HOUR + t * 1000)
    [up] = node.tick(T0 + 7 * DAY + HOUR)
    assert _by(up, "lure_age_d") == {1: 7.0} and _by(up, "trap_total") == {1: 4}
    with pytest.raises(ValueError, match="service event"):
        node.on_service(1, "repainted", T0)


def test_service_over_modbus_holding_registers() -> None:
    """Writing 1 or 2 to holding register 8 + trap - 1 records a service; a bad code or trap is exception 03."""
    from furrow.edge.crc import crc16_modbus

    node = PestNode("trap-01", MemorySeq(), traps=2, interval_ms=12 * HOUR)
    node.tick(T0)
    slave = RtuSlave(1, node.registers(), node.holding, on_write=node.on_holding_write)

    def write(reg: int, value: int, at_us: int) -> bytes:
        body = bytes([1, 6, 0, reg, value >> 8, value & 0xFF])
        c = crc16_modbus(body)
        return slave.feed(body + bytes([c & 0xFF, c >> 8]), at_us)

    assert write(9, 2, 1_000_000)[1] == 6  # trap 2 emptied
    assert write(10, 1, 2_000_000)[1:3] == bytes([0x86, 3])  # no trap 3
    assert write(8, 7, 3_000_000)[1:3] == bytes([0x86, 3])  # no service code 7
    assert node.holding[8:12] == [0, 0, 0, 0]
    node.on_catch(2, T0 + 10)
    [up] = node.tick(T0 + DAY)
    assert _by(up, "trap_total") == {2: 1}
    back = modbus_map.decode_inputs("trap-01", list(node.registers()))
    assert _by(back, "trap_total") == {2: 1} and _by(back, "trap_count") == {1: 0, 2: 1}


def test_a_node_has_one_to_four_traps() -> None:
    """Zero or five traps is refused at construction; a pulse on a trap that does not exist is an error."""
    with pytest.raises(ValueError):
        PestNode("trap-01", MemorySeq(), traps=5)
    with pytest.raises(ValueError, match="no trap 3"):
        PestNode("trap-01", MemorySeq(), traps=2).on_catch(3, T0)
