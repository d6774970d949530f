"""`furrow hil node` answers a real Modbus master no one here wrote: mbpoll (Modbus/TCP)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from furrow.edge import CONTRACT_MAJOR, CONTRACT_MINOR, modbus_map, modbus_queue
from furrow.edge.measurements import ROLES
from furrow.hil.bench import BenchNode, BenchOptions

MBPOLL = shutil.which("mbpoll")
LINE = re.compile(r"^\[(\d+)\]:\s+(-?\d+)")


@pytest.fixture(scope="module", autouse=True)
def _need_mbpoll() -> None:
    if MBPOLL is None:
        pytest.fail("mbpoll is not installed: apt-get install mbpoll (scripts/_setup.sh does)", pytrace=False)


def mbpoll(port: int, *args: str, write: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run mbpoll once against 127.0.0.1:port; `write` values follow the host, as mbpoll wants."""
    return subprocess.run([MBPOLL, "-m", "tcp", "-p", str(port), "-1", "-o", "3", *args, "127.0.0.1", *write],
                          capture_output=True, text=True, timeout=30)


def values(result: subprocess.CompletedProcess[str]) -> list[int]:
    """The values mbpoll printed, in reference order (mbpoll prints unsigned first)."""
    assert result.returncode == 0, result.stdout + result.stderr
    return [int(m.group(2)) for line in result.stdout.splitlines() if (m := LINE.match(line))]


def read_inputs(port: int, unit: int = 1) -> list[int]:
    """The node's whole input map, 112 registers from reference 1."""
    regs = values(mbpoll(port, "-a", str(unit), "-t", "3", "-r", "1", "-c", str(modbus_map.INPUT_COUNT)))
    assert len(regs) == modbus_map.INPUT_COUNT
    return regs


class NodeProcess:
    def __init__(self, role: str, state_dir: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "furrow.cli", "hil", "node", "--role", role, "--modbus-tcp", "127.0.0.1:0",
             "--interval", "3600", "--state-dir", str(state_dir), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"on 127\.0\.0\.1:(\d+)", line)
        assert m, line + self.proc.stderr.read()  # type: ignore[union-attr]
        self.port = int(m.group(1))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def node_process(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    started: list[NodeProcess] = []

    def start(role: str, *extra: str) -> NodeProcess:
        started.append(NodeProcess(role, tmp_path / f"state-{len(started)}", *extra))
        return started[-1]

    yield start
    for node in started:
        node.stop()


EXPECTED = {
    "soil": {("vwc_pct", 10), ("vwc_pct", 30), ("vwc_pct", 60), ("soil_temp_c", 10), ("soil_temp_c", 30),
             ("soil_temp_c", 60), ("soil_raw", 10), ("soil_raw", 30), ("soil_raw", 60)},
    "weather": {("air_temp_c", None), ("rh_pct", None), ("pressure_kpa", None), ("rain_mm", None),
                ("wind_ms", None), ("wind_dir_deg", None), ("rs_w_m2", None)},
    "irrigation": {("valve_open", 1), ("flow_l_min", None), ("volume_l", None), ("leak_l_min", None)},
    "pest": {("trap_count", 1), ("trap_count", 2)},
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_serves_the_documented_input_map_to_mbpoll(role: str, node_process) -> None:  # type: ignore[no-untyped-def]
    """For every role, mbpoll's FC04 read of references 1-112 decodes by the contract's map (version, role, seq, fw)."""
    node = node_process(role)
    regs = read_inputs(node.port)
    assert regs[0] == CONTRACT_MAJOR << 8 | CONTRACT_MINOR  # reference 1: the contract version the node speaks
    assert regs[1] == ROLES[role]  # reference 2: role code
    assert (regs[8], regs[9]) == (0x0001, 0)  # fw 0.1.0
    up = modbus_map.decode_inputs(f"{role}-bench", regs)
    assert up["role"] == role and up["seq"] == (regs[2] << 16 | regs[3])
    got = {(r["name"], r.get("depth_cm", r.get("channel"))) for r in up["readings"]}
    assert got == EXPECTED[role]
    assert all(r.get("fault") is None for r in up["readings"]), up["readings"]
    assert up["bat_v"] is None or 2.0 <= up["bat_v"] <= 4.5


def test_illegal_address_and_absent_unit_give_documented_exceptions(node_process) -> None:  # type: ignore[no-untyped-def]
    """Reading past register 111 answers exception 02 (illegal data address); a unit with no node answers 0x0B."""
    node = node_process("soil", "--unit", "7")
    past = mbpoll(node.port, "-a", "7", "-t", "3", "-r", "110", "-c", "5")
    assert past.returncode != 0 and "Illegal data address" in past.stderr, past.stderr
    nobody = mbpoll(node.port, "-a", "1", "-t", "3", "-r", "1", "-c", "1")
    assert nobody.returncode != 0 and "Target device failed to respond" in nobody.stderr, nobody.stderr
    assert read_inputs(node.port, unit=7)[1] == ROLES["soil"]


def test_holding_registers_and_coils_through_mbpoll(node_process) -> None:  # type: ignore[no-untyped-def]
    """mbpoll writes the interval (FC06) and reads it back (FC03); a coil may close but never open a valve (03)."""
    node = node_process("irrigation")
    assert values(mbpoll(node.port, "-a", "1", "-t", "4", "-r", "1", "-c", "2")) == [1, 3600]
    write = mbpoll(node.port, "-a", "1", "-t", "4", "-r", "2", write=("600",))
    assert write.returncode == 0, write.stdout + write.stderr
    assert values(mbpoll(node.port, "-a", "1", "-t", "4", "-r", "1", "-c", "2")) == [1, 600]
    assert values(mbpoll(node.port, "-a", "1", "-t", "0", "-r", "1", "-c", "1")) == [0]
    opened = mbpoll(node.port, "-a", "1", "-t", "0", "-r", "1", write=("1",))
    assert opened.returncode != 0 and "Illegal data value" in opened.stderr, opened.stderr
    closed = mbpoll(node.port, "-a", "1", "-t", "0", "-r", "1", write=("0",))
    assert closed.returncode == 0, closed.stderr


async def test_mbpoll_reads_exactly_the_firmware_cores_image(tmp_path: Path) -> None:
    """The 112 words mbpoll prints are the firmware core's own register image, word for word."""
    bench = BenchNode(BenchOptions(role="soil", host="127.0.0.1", port=0, interval_s=3600, state_dir=tmp_path))
    await bench.start()
    stop = asyncio.Event()
    task = asyncio.create_task(bench.run(stop))
    try:
        proc = await asyncio.create_subprocess_exec(
            MBPOLL, "-m", "tcp", "-p", str(bench.bus.port), "-1", "-a", "1", "-t", "3", "-r", "1", "-c", "112",
            "127.0.0.1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        regs = [int(m.group(2)) for line in out.decode().splitlines() if (m := LINE.match(line))]
        own = list(bench.core.registers())  # type: ignore[attr-defined]
        # register 15 is the report queue's word (contract 1.1): the one report, waiting, is this image
        assert regs[:modbus_queue.QUEUE] + regs[modbus_queue.QUEUE + 1:] == own[:15] + own[16:]
        assert modbus_queue.queue_state(regs) == (1, True)
        assert modbus_map.decode_inputs("soil-bench", regs)["seq"] == bench.core.last["seq"]  # type: ignore[attr-defined]
    finally:
        stop.set()
        await task


def test_serial_node_speaks_real_rtu_to_mbpoll(tmp_path: Path) -> None:
    """With --serial the node answers mbpoll -m rtu on a pseudo-terminal: the whole map, and exception 02 past it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "furrow.cli", "hil", "node", "--role", "weather", "--serial", "--interval", "3600",
         "--state-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"serial (/dev/\S+)", line)
        assert m, line
        rtu = [MBPOLL, "-m", "rtu", "-b", "19200", "-P", "even", "-a", "1", "-1", "-o", "3"]
        ok = subprocess.run([*rtu, "-t", "3", "-r", "1", "-c", "112", m.group(1)], capture_output=True, text=True,
                            timeout=30)
        regs = values(ok)
        assert modbus_map.decode_inputs("weather-bench", regs)["role"] == "weather"
        past = subprocess.run([*rtu, "-t", "3", "-r", "112", "-c", "2", m.group(1)], capture_output=True, text=True,
                              timeout=30)
        assert past.returncode != 0 and "Illegal data address" in past.stderr, past.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_invalid_config_runs_the_node_in_fault_mode(node_process, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With a broken config the node serves no report (register 0 = 0) and says why: 14 = 1, 15 = number of errors."""
    bad = tmp_path / "node.json"
    bad.write_text(json.dumps({"node": "Soil 9", "role": "soil", "modbus": {"tx": 17, "rx": 16, "de": 4},
                               "probes": [{"depth_cm": 10, "adc": 32, "dry_raw": 5, "wet_raw": 5}]}))
    node = node_process("soil", "--config", str(bad))
    regs = values(mbpoll(node.port, "-a", "1", "-t", "3", "-r", "1", "-c", "16"))
    assert regs[0] == 0 and not modbus_map.has_report(regs)
    assert (regs[modbus_map.STATUS], regs[modbus_map.STATUS_ERRORS]) == (modbus_map.STATUS_CONFIG_ERROR, 2)
    refused = mbpoll(node.port, "-a", "1", "-t", "4", "-r", "2", write=("60",))
    assert refused.returncode != 0 and "Illegal data value" in refused.stderr, refused.stderr
