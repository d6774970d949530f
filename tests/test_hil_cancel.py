"""The cancel-night-run HIL scenario (hil/scenarios/cancel_night_run.py): a cancelled night run never opens,
on MQTT and on RS-485, with the controllers' firmware in MicroPython and the production cloud and gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from furrow.hil.scenarios import RunOptions
from furrow.hil.scenarios.cancel_night_run import MQTT, RS485, SCENARIO

pytestmark = pytest.mark.micropython


async def test_a_cancelled_night_run_never_opens_its_valve_on_mqtt_or_rs485(tmp_path: Path) -> None:
    """Judged from the farm's valve record: neither controller opens its cancelled night run; each run cancelled
    ten minutes after it opened closed then; the cloud shows all four cancelled, each night run confirmed
    "cancelled" by its controller, and no reading was lost on the way."""
    result = await SCENARIO.run(RunOptions(workdir=tmp_path))
    x = result.extra
    assert (x["night_runs_opened_mqtt"], x["night_runs_opened_rs485"]) == (0, 0), x["command_events"]
    assert x["cancelled_open_runs_s"] == {MQTT: [600], RS485: [600]}
    assert set(x["cloud_states"].values()) == {"cancelled"}
    assert x["cancels_relayed"] >= 4 and result.valve_overruns == 0 and result.commands_executed_late == 0
    for cid, events in x["command_events"].items():
        assert "started" not in events[events.index("cancelled"):] and "completed" not in events
        assert x["controller_acks"][cid][-1] == "cancelled", (cid, x["controller_acks"][cid])
    assert result.readings_lost == 0 and result.duplicates_stored == 0 and result.readings_sent > 0
