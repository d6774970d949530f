"""Irrigation node core: the safety rules it enforces by itself."""

import json
from typing import Any

import pytest

from furrow.edge import commands
from furrow.firmware.irrigation_node import HISTORY, MAX_WAITING, IrrigationNode, _rebuild_id
from tests.firmware_fakes import FakeFlowMeter, FakeValve, MemorySeq

T0 = 1_767_225_600_000
S = 1000
MIN = 60 * S
HOUR = 60 * MIN


def _node(valves: int = 2, **kw: Any) -> tuple[IrrigationNode, list[FakeValve]]:
    vs = [FakeValve() for _ in range(valves)]
    return IrrigationNode("irr-01", MemorySeq(), vs, interval_ms=MIN, **kw), vs


def _cmd(
    cmd_id: str = "c-1",
    valve: int = 1,
    action: str = "open",
    duration_s: int | None = 600,
    max_runtime_s: int = 900,
    not_before_ms: int = T0,
    expires_ms: int = T0 + HOUR,
    node: str = "irr-01",
) -> bytes:
    return commands.encode(
        commands.make_command(cmd_id, node, valve, action, duration_s, max_runtime_s, not_before_ms, expires_ms)
    )


def _states(acks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["id"], a["state"]) for a in acks]


def _run_until(node: IrrigationNode, start: int, end: int, step: int = S) -> list[dict[str, Any]]:
    acks: list[dict[str, Any]] = []
    for t in range(start, end + 1, step):
        node.on_heartbeat(t)
        acks += node.tick(t)[0]
    return acks


def test_open_is_received_started_then_completed_after_duration() -> None:
    """An open command opens the valve at once and closes it after duration_s, with runtime and volume."""
    meter = FakeFlowMeter(rate_l_min=40.0)
    node, valves = _node(flow_meter=meter)
    acks = node.on_command(_cmd(duration_s=600), T0)
    assert _states(acks) == [("c-1", "received"), ("c-1", "started")]
    assert valves[0].is_open and node.valve_states() == [True, False]
    meter.run(600)
    acks = _run_until(node, T0 + 10 * S, T0 + 600 * S, step=10 * S)
    assert _states(acks) == [("c-1", "completed")]
    assert acks[0]["runtime_s"] == 600 and acks[0]["volume_l"] == 400.0
    assert node.valve_states() == [False, False] and not valves[0].is_open


def test_expired_command_is_rejected_and_never_opens() -> None:
    """A command delivered after expires_ms is refused with a reason; the valve stays shut."""
    node, valves = _node()
    [ack] = node.on_command(_cmd(expires_ms=T0 + MIN), T0 + MIN + 1)
    assert ack["state"] == "rejected" and "expired" in ack["reason"]
    assert valves[0].calls == [False]


def test_unknown_valve_and_other_node_are_rejected() -> None:
    """Valve 3 on a two-valve controller, or a command for another node, is refused."""
    node, _ = _node(valves=2)
    [ack] = node.on_command(_cmd(valve=3), T0)
    assert ack["state"] == "rejected" and "no valve 3" in ack["reason"]
    [ack] = node.on_command(_cmd("c-2", node="irr-02"), T0)
    assert ack["state"] == "rejected" and "irr-02" in ack["reason"]


def test_duplicate_id_never_executes_twice() -> None:
    """A retried command id is re-acknowledged with its current state and never re-opens the valve."""
    node, valves = _node()
    node.on_command(_cmd(duration_s=60, max_runtime_s=60), T0)
    assert _states(node.on_command(_cmd(duration_s=60, max_runtime_s=60), T0 + S)) == [("c-1", "started")]
    _run_until(node, T0, T0 + 60 * S)
    [again] = node.on_command(_cmd(duration_s=60, max_runtime_s=60), T0 + 2 * MIN)
    assert again["state"] == "completed" and again["runtime_s"] == 60
    assert valves[0].calls == [False, True, False]  # one open, one close
    assert node.stats["duplicates"] == 2


def test_retry_after_expiry_reacks_completion_not_rejection() -> None:
    """A late retry of a command that already ran reports how it ended, not 'expired'."""
    node, _ = _node()
    node.on_command(_cmd(duration_s=60, expires_ms=T0 + MIN), T0)
    _run_until(node, T0, T0 + 60 * S)
    [again] = node.on_command(_cmd(duration_s=60, expires_ms=T0 + MIN), T0 + HOUR)
    assert again["state"] == "completed"


def test_not_before_holds_the_command_until_due() -> None:
    """A command before its not_before is acked 'received' and starts when its time comes."""
    node, valves = _node()
    assert _states(node.on_command(_cmd(not_before_ms=T0 + 5 * MIN), T0)) == [("c-1", "received")]
    assert _run_until(node, T0, T0 + 5 * MIN - S) == []
    assert not valves[0].is_open
    acks = _run_until(node, T0 + 5 * MIN, T0 + 5 * MIN)
    assert _states(acks) == [("c-1", "started")]
    assert valves[0].is_open
    assert _states(node.on_command(_cmd(not_before_ms=T0 + 5 * MIN), T0 + 6 * MIN)) == [("c-1", "started")]


def test_held_command_that_cannot_start_before_expiry_is_aborted() -> None:
    """A waiting command whose expiry passes (node asleep) ends 'aborted', never starts late."""
    node, valves = _node()
    node.on_command(_cmd(not_before_ms=T0 + MIN, expires_ms=T0 + 2 * MIN), T0)
    acks, _ = node.tick(T0 + 3 * MIN)
    assert _states(acks) == [("c-1", "aborted")] and "expired" in acks[0]["reason"]
    assert not valves[0].is_open


def test_second_open_on_a_busy_valve_waits_for_the_first() -> None:
    """Two opens for one valve run one after the other, not overlapped or merged."""
    node, valves = _node()
    node.on_command(_cmd("c-1", duration_s=60), T0)
    assert _states(node.on_command(_cmd("c-2", duration_s=60), T0 + S)) == [("c-2", "received")]
    acks = _run_until(node, T0 + S, T0 + 60 * S)
    assert _states(acks) == [("c-1", "completed"), ("c-2", "started")]
    assert valves[0].is_open


def test_max_runtime_is_enforced_after_a_stall() -> None:
    """If the loop stalls past max_runtime_s, the run is cut off and reported aborted."""
    node, valves = _node()
    node.on_command(_cmd(duration_s=600, max_runtime_s=900), T0)
    node.on_heartbeat(T0 + 20 * MIN)
    acks, _ = node.tick(T0 + 20 * MIN)  # the first tick in 20 min: a stalled loop
    assert _states(acks) == [("c-1", "aborted")]
    assert "max runtime" in acks[0]["reason"] and acks[0]["runtime_s"] == 1200
    assert not valves[0].is_open


def test_duration_equal_to_max_runtime_completes_normally() -> None:
    """A run with duration_s == max_runtime_s, ticked normally, is 'completed', not cut off."""
    node, _ = _node()
    node.on_command(_cmd(duration_s=300, max_runtime_s=300), T0)
    acks = _run_until(node, T0 + 100, T0 + 300 * S + 100, step=200)
    assert _states(acks) == [("c-1", "completed")]


def test_heartbeat_loss_closes_every_valve() -> None:
    """No word from the gateway for heartbeat_timeout_ms with a valve open: all close, runs aborted."""
    node, valves = _node(heartbeat_timeout_ms=2 * MIN)
    node.on_command(_cmd("c-1", valve=1, duration_s=1800, max_runtime_s=1800), T0)
    node.on_command(_cmd("c-2", valve=2, duration_s=1800, max_runtime_s=1800), T0)
    acks = []
    for t in range(T0, T0 + 2 * MIN + 1, S):
        acks += node.tick(t)[0]
    assert acks == []  # exactly at the timeout: still heard
    acks, _ = node.tick(T0 + 2 * MIN + 1)
    assert _states(acks) == [("c-1", "aborted"), ("c-2", "aborted")]
    assert {a["reason"] for a in acks} == {"heartbeat lost"}
    assert node.valve_states() == [False, False] and not any(v.is_open for v in valves)
    assert node.stats["heartbeat_losses"] == 1


def test_heartbeats_keep_a_long_run_going() -> None:
    """With regular heartbeats a run longer than the timeout completes."""
    node, _ = _node(heartbeat_timeout_ms=2 * MIN)
    node.on_command(_cmd(duration_s=600), T0)
    acks = _run_until(node, T0, T0 + 600 * S, step=30 * S)
    assert _states(acks) == [("c-1", "completed")]


def test_held_command_does_not_start_while_gateway_is_silent() -> None:
    """A due command waits while the heartbeat is lost, and is aborted if it expires so."""
    node, valves = _node(heartbeat_timeout_ms=MIN)
    cmd = _cmd(not_before_ms=T0 + 5 * MIN, expires_ms=T0 + 10 * MIN)
    node.on_command(cmd, T0)
    acks = []
    for t in range(T0, T0 + 11 * MIN, 10 * S):
        acks += node.tick(t)[0]
        assert not valves[0].is_open
    assert _states(acks) == [("c-1", "aborted")]
    assert "gateway not heard" in acks[0]["reason"]
    assert node.on_command(cmd, T0 + HOUR)[0]["state"] == "aborted"


def test_close_aborts_the_running_command() -> None:
    """A close command shuts the valve: the running open is 'aborted' naming it, the close 'completed'."""
    node, valves = _node()
    node.on_command(_cmd("c-1"), T0)
    acks = node.on_command(_cmd("c-2", action="close", duration_s=None), T0 + MIN)
    assert _states(acks) == [("c-2", "received"), ("c-1", "aborted"), ("c-2", "completed")]
    assert acks[1]["reason"] == "closed by command c-2" and acks[1]["runtime_s"] == 60
    assert not valves[0].is_open
    assert _run_until(node, T0 + MIN, T0 + 15 * MIN, step=MIN) == []


def test_malformed_command_with_an_id_is_rejected() -> None:
    """A command that fails validation but has a readable id gets a 'rejected' ack naming the field."""
    node, _ = _node()
    bad = json.loads(_cmd())
    bad["duration_s"] = 0
    [ack] = node.on_command(json.dumps(bad).encode(), T0)
    assert ack["state"] == "rejected" and "duration_s" in ack["reason"]
    assert node.stats["bad_commands"] == 1


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[1, 2]", b'{"id": 42}', b'{"valve": 1}'])
def test_malformed_command_without_an_id_is_counted_and_ignored(data: bytes) -> None:
    """Garbage with no recoverable id produces no ack and is counted in stats."""
    node, valves = _node()
    assert node.on_command(data, T0) == []
    assert node.stats["bad_commands"] == 1
    assert valves[0].calls == [False]


def test_history_is_bounded_but_covers_the_recent_ids() -> None:
    """The controller remembers the last HISTORY ids: a retry of any of them is not executed."""
    node, valves = _node()
    for i in range(HISTORY + 5):
        node.on_command(_cmd(f"c-{i}", expires_ms=T0 + 1), T0 + 2)  # each rejected: expired
    assert len(node._history) == HISTORY
    assert [_rebuild_id(kept) for kept in node._history] == [f"c-{i}" for i in range(5, HISTORY + 5)]
    for i in range(5, HISTORY + 5):
        assert node.on_command(_cmd(f"c-{i}", expires_ms=T0 + 1), T0 + 2)[0]["state"] == "rejected"
    assert node.stats["duplicates"] == HISTORY


def test_a_repeat_is_the_very_ack_sent_and_a_bad_journal_ack_is_dropped() -> None:
    """The history keeps each id's latest ack compactly and repeats it field for field (runtime, volume,
    reason); an ack in the journal that would not make a valid ack again is dropped at boot, not fatal,
    so that command runs if it comes again."""
    from furrow.firmware.journal import MemoryJournal

    meter = FakeFlowMeter()
    node, _ = _node(flow_meter=meter)
    node.on_command(_cmd(duration_s=60, max_runtime_s=60), T0)
    meter.total += 12.5
    [done] = _run_until(node, T0, T0 + 60 * S)
    assert done["state"] == "completed" and done["volume_l"] == 12.5
    assert node.on_command(_cmd(duration_s=60, max_runtime_s=60), T0 + MIN) == [done]
    journal = MemoryJournal()
    bad = dict(done, id="c-bad", state="half-done")
    journal.save({"runs": [], "waiting": [], "acks": [done, bad, {"id": "c-short"}]})
    node, valves = _node(journal=journal)
    assert node.on_command(_cmd(duration_s=60, max_runtime_s=60), T0 + MIN) == [done]
    assert _states(node.on_command(_cmd("c-bad"), T0 + MIN)) == [("c-bad", "received"), ("c-bad", "started")]
    assert valves[0].is_open and sorted(_rebuild_id(kept) for kept in node._history) == ["c-1", "c-bad"]


def test_ids_that_share_a_beginning_or_span_many_bytes_are_told_apart() -> None:
    """The history finds an id by its length and bytes: "c-1" is not "c-10", and an id of 64 characters
    of four UTF-8 bytes each (256 bytes, more than one length byte holds) is remembered and repeated."""
    node, _ = _node()
    long_id = "\U0001f331" * 64
    for cmd_id in ("c-10", long_id):
        node.on_command(_cmd(cmd_id, expires_ms=T0 + 1), T0 + 2)  # rejected: expired
    assert node.on_command(_cmd("c-1", expires_ms=T0 + 1), T0 + 2)[0]["reason"].startswith("expired")
    assert node.stats["duplicates"] == 0
    [again] = node.on_command(_cmd(long_id, expires_ms=T0 + 1), T0 + 3)
    assert again["id"] == long_id and again["ts_ms"] == T0 + 2 and node.stats["duplicates"] == 1


def test_waiting_queue_is_bounded() -> None:
    """More than MAX_WAITING future commands: the extra ones are rejected, not queued without end."""
    node, _ = _node()
    states = [
        node.on_command(_cmd(f"c-{i}", not_before_ms=T0 + HOUR, expires_ms=T0 + 2 * HOUR), T0)[0]["state"]
        for i in range(MAX_WAITING + 2)
    ]
    assert states == ["received"] * MAX_WAITING + ["rejected"] * 2


def test_periodic_uplink_reports_valves_and_flow() -> None:
    """The uplink carries valve_open per channel, flow, volume and leak flow (none yet) from the meter."""
    meter = FakeFlowMeter(rate_l_min=12.5)
    node, _ = _node(flow_meter=meter)
    _, [up] = node.tick(T0)
    assert up["role"] == "irrigation"
    assert [(r["name"], r.get("channel"), r["value"]) for r in up["readings"]] == [
        ("valve_open", 1, 0.0),
        ("valve_open", 2, 0.0),
        ("flow_l_min", None, 12.5),
        ("volume_l", None, 0.0),
        ("leak_l_min", None, 0.0),
    ]
    node.on_command(_cmd(), T0 + S)
    _, [up] = node.tick(T0 + 2 * S)  # a valve change is reported at once
    assert up["readings"][0]["value"] == 1.0
    assert node.tick(T0 + 3 * S) == ([], [])


def test_coil_write_can_close_but_never_open() -> None:
    """Over Modbus a coil write of 0 closes a valve (run aborted); a write of 1 is refused."""
    node, valves = _node()
    node.on_command(_cmd(), T0)
    with pytest.raises(ValueError):
        node.on_coil_write(1, [True])
    node.on_coil_write(0, [False])
    assert not valves[0].is_open
    acks, _ = node.tick(T0 + S)
    assert _states(acks) == [("c-1", "aborted")] and "coil" in acks[0]["reason"]


def test_valves_are_closed_at_boot() -> None:
    """Whatever state the outputs powered up in, the controller closes every valve first."""
    _, valves = _node(valves=3)
    assert [v.calls for v in valves] == [[False], [False], [False]]


def test_the_history_gives_back_each_field_with_its_type() -> None:
    """A remembered ack is kept packed (firmware/irrigation_node._compact) and comes back field for field, of
    the same type: an integer volume stays an integer, a float a float, an empty reason is not "none"."""
    from furrow.firmware.irrigation_node import _compact, _expand

    for args in [("completed", T0, 60, 12.5, None, None), ("aborted", T0 + 1, 0, 0, "", 325),
                 ("rejected", 2**41, None, None, "vanne bloquée: no flow", None), ("received", 0, None, None, None, 0)]:
        ack = commands.make_ack("c-1", "irr-01", *args)
        back = _expand(_compact(ack))
        assert back == args and [type(x) for x in back] == [type(x) for x in args]
        assert commands.make_ack("c-1", "irr-01", *back) == ack


class _NoRoomJournal:
    """A journal whose save finds no room in the heap, as on a board with a fragmented heap."""

    def __init__(self) -> None:
        self.saves = 0

    def load(self) -> dict[str, Any]:
        return {"runs": [], "waiting": [], "acks": []}

    def save(self, state: dict[str, Any]) -> None:
        self.saves += 1
        raise MemoryError("memory allocation failed, allocating 252 bytes")


def test_a_journal_save_without_room_is_counted_and_said_and_the_valve_still_runs(capsys) -> None:
    """A MemoryError in a journal save does not stop the command (the valve opens and closes on time),
    but it is never silent: counted in stats["journal_errors"] and said on the console in the line the
    board harness reads (tests/unixboard_support.py, JOURNAL_ERROR), so it fails a heap run."""
    from tests.unixboard_support import JOURNAL_ERROR

    journal = _NoRoomJournal()
    node, valves = _node(journal=journal)
    assert node.stats["journal_errors"] == 0
    acks = node.on_command(_cmd(duration_s=60, max_runtime_s=60), T0)
    assert _states(acks) == [("c-1", "received"), ("c-1", "started")] and valves[0].is_open
    assert _states(_run_until(node, T0, T0 + 60 * S)) == [("c-1", "completed")] and not valves[0].is_open
    assert journal.saves >= 2 and node.stats["journal_errors"] == journal.saves
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith(JOURNAL_ERROR + " MemoryError") for line in lines), lines
    assert len(lines) == journal.saves


class _MeterFailing:
    """A flow meter whose reads raise `error`: OSError for a dead meter, MemoryError for a full heap."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def total_l(self) -> float:
        raise self.error

    def rate_l_min(self) -> float:
        raise self.error


def test_a_dead_flow_meter_is_a_sensor_error_but_a_full_heap_is_not_hidden() -> None:
    """A meter that fails with an I/O error proves nothing: the run goes on and the report says
    sensor_error. A MemoryError in the same reads is no dead meter: the core raises it to the board loop
    (which lets the board reset; valves close at boot and the journal ends the run "aborted") instead of
    reporting a healthy node with a missing meter."""
    node, valves = _node(flow_meter=_MeterFailing(OSError(5, "EIO")))
    node.on_command(_cmd(duration_s=60), T0)
    assert valves[0].is_open
    [up] = node.tick(T0 + S)[1] or node.tick(T0 + MIN)[1]
    flow = next(r for r in up["readings"] if r["name"] == "flow_l_min")
    assert flow["fault"] == "sensor_error"
    assert _states(_run_until(node, T0 + 2 * S, T0 + 60 * S)) == [("c-1", "completed")]

    node, valves = _node(flow_meter=_MeterFailing(MemoryError("memory allocation failed, allocating 64 bytes")))
    with pytest.raises(MemoryError):
        node.on_command(_cmd(duration_s=60), T0)  # the run's start volume
    node, valves = _node(flow_meter=_MeterFailing(MemoryError("memory allocation failed, allocating 64 bytes")))
    with pytest.raises(MemoryError):
        node.tick(T0)  # the flow rules' rate, then the report's
