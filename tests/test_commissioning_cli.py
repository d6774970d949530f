"""The command-line commissioning flow against the demo farm: `furrow demo` runs for real in a
subprocess (its API, broker, gateway and emulated nodes), and `furrow node add`, `furrow node
check` and `furrow node calibrate` talk to it as a technician's laptop would."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from furrow.cli import main
from furrow.commands._node_calibrate import node_settings, update_config
from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
from tests.servers import free_port

# the demo simulates 45 days before its API answers: 63 s on a quiet machine, past 120 s in CI under load
STARTUP_S = 300


class Demo:
    """`furrow demo` in a subprocess on free ports, its admin token read from its log."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "demo.log"
        self.tech = ""  # a technician's token, made once the API is up
        args = [sys.executable, "-m", "furrow.cli", "demo", "--data-dir", str(data_dir / "demo"),
                "--port", str(self.port), "--mqtt-port", str(free_port()), "--modbus-port", str(free_port()),
                "--report-interval", "1"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("wb"))
        self.admin = self._token()

    def _token(self) -> str:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            found = re.search(r"demo admin token: (\S+)", self.log.read_text(errors="replace"))
            if found:
                return found.group(1)
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the demo did not start: {self.log.read_text(errors='replace')[-3000:]}")

    def token(self, user: str, role: str) -> str:
        r = httpx.post(f"{self.url}/api/v1/auth/tokens", json={"user": user, "role": role},
                       headers={"Authorization": f"Bearer {self.admin}"}, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def get(self, path: str) -> dict:
        r = httpx.get(f"{self.url}/api/v1{path}", headers={"Authorization": f"Bearer {self.admin}"}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    farm = Demo(tmp_path_factory.mktemp("commissioning"))
    try:
        farm.tech = farm.token("tom", "technician")
        yield farm
    finally:
        farm.stop()


def furrow(capsys, monkeypatch, token: str, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run `furrow ARGV` in this process with FURROW_API_TOKEN set; (exit status, stdout, stderr)."""
    monkeypatch.setenv("FURROW_API_TOKEN", token)
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_technician_adds_a_node_and_checks_a_reporting_one(demo, capsys, monkeypatch, tmp_path):
    """A technician's token registers a new node (config.json written) and `node check` of a demo soil
    node that reports waits for its readings and passes every check, with the live values shown."""
    rc, _, err = furrow(capsys, monkeypatch, demo.tech, "node", "add", "soil-07", "--role", "soil", "--zone", "north",
                        "--depth", "10", "--depth", "30", "--out", str(tmp_path), "--api", demo.url)
    assert rc == 0, err
    assert json.loads((tmp_path / "config.json").read_text())["node"] == "soil-07"
    rc, out, err = furrow(capsys, monkeypatch, demo.tech, "node", "check", "soil-01", "--wait", "60", "--api", demo.url)
    assert rc == 0, out + err
    for item in ("registered", "heard", "first_good_reading", "depths", "plausible", "no_faults"):
        assert re.search(rf"✓ {item}\b", out), out
    assert "· calibrated" in out and "furrow node calibrate soil-01" in out  # advice, not a failure
    assert re.search(r"vwc_pct +30 cm +\d", out) and out.rstrip().endswith("soil-01: ready")


def test_technician_adds_a_camera_node_linked_over_mqtt(demo, capsys, monkeypatch, tmp_path):
    """`node add --role camera` registers a camera in its zone and writes a config.json the firmware's own
    check accepts for the camera role, linked over MQTT (a camera's photos never go over RS-485)."""
    from furrow.firmware.config import validate

    rc, _, err = furrow(capsys, monkeypatch, demo.tech, "node", "add", "cam-07", "--role", "camera", "--zone", "south",
                        "--out", str(tmp_path), "--api", demo.url)
    assert rc == 0, err
    cfg, errors = validate(json.loads((tmp_path / "config.json").read_text()))
    assert errors == [] and (cfg["node"], cfg["role"], cfg["link"]) == ("cam-07", "camera", "mqtt")
    assert demo.get("/registry/nodes/cam-07")["zone_id"] == "south"


def test_a_silent_or_unknown_node_times_out_with_exit_2(demo, capsys, monkeypatch):
    """A registered node that never reports, and a name the cloud has never seen, time out with
    exit 2 and say what was missing and what to look at."""
    httpx.post(f"{demo.url}/api/v1/registry/nodes", json={"id": "soil-08", "role": "soil", "zone_id": "south"},
               headers={"Authorization": f"Bearer {demo.tech}"}, timeout=10).raise_for_status()
    rc, _, err = furrow(capsys, monkeypatch, demo.tech, "node", "check", "soil-08", "--wait", "2", "--api", demo.url)
    assert rc == 2
    assert f"no good reading from soil-08 reached {demo.url} within 2 s" in err and "not heard yet" in err
    assert "✗ heard" in err and "furrow broker config" in err
    rc, _, err = furrow(capsys, monkeypatch, demo.tech, "node", "check", "soil-99", "--wait", "1", "--api", demo.url)
    assert rc == 2 and "neither registered nor heard soil-99" in err


def test_calibrate_with_points_is_stored_and_shown_in_the_commissioning_view(demo, capsys, monkeypatch, tmp_path):
    """`node calibrate --points` on the demo's Modbus soil node stores the fit for that probe alone: the
    commissioning view applies it to the live raw count at that depth, the registers to write are
    printed, and a check that requires calibration fails (exit 1) until every probe has one."""
    rc, out, err = furrow(capsys, monkeypatch, demo.tech, "node", "calibrate", "soil-03", "--depth", "30",
                          "--points", "41000:4,18500:42", "--api", demo.url)
    assert rc == 0, out + err
    assert "two-point fit over 2 points stored in the registry" in out
    assert "holding registers 10 and 11 (depth slot 1): 43368 16724" in out  # 0 % and 45 % on the line
    view = demo.get("/nodes/soil-03/commissioning")
    cal = view["calibration"]
    assert cal["30cm:c1"] == pytest.approx(-38 / 22500) and not any(k.startswith("10cm:") for k in cal)
    raw = next(x["value"] for x in view["live"] if x["measurement"] == "soil_raw" and x["depth_cm"] == 30)
    vwc = next(x for x in view["live"] if x["measurement"] == "vwc_pct" and x["depth_cm"] == 30)
    assert vwc["calibrated_vwc_pct"] == pytest.approx(cal["30cm:c0"] + cal["30cm:c1"] * raw, abs=0.01)
    other = next(x for x in view["live"] if x["measurement"] == "vwc_pct" and x["depth_cm"] == 10)
    assert other["calibrated_vwc_pct"] is None
    rc, out, err = furrow(capsys, monkeypatch, demo.tech, "node", "check", "soil-03", "--require-calibration",
                          "--wait", "60", "--api", demo.url)
    assert rc == 1, out + err
    assert "✗ calibrated          fits stored for [30] cm, none for [10, 60] cm" in out


def test_calibrate_writes_the_probe_into_the_nodes_config(demo, capsys, monkeypatch, tmp_path):
    """With --config, the probe at that depth in the config.json `node add` wrote gets the fit's dry and
    wet counts, and the file still passes the firmware's config check."""
    out_dir = tmp_path / "n9"
    rc, _, err = furrow(capsys, monkeypatch, demo.tech, "node", "add", "soil-09", "--role", "soil", "--zone", "south",
                        "--depth", "10", "--depth", "30", "--out", str(out_dir), "--api", demo.url)
    assert rc == 0, err
    rc, out, err = furrow(capsys, monkeypatch, demo.tech, "node", "calibrate", "soil-09", "--depth", "30",
                          "--points", "41000:4,18500:42", "--config", str(out_dir / "config.json"), "--api", demo.url)
    assert rc == 0, out + err
    probes = {p["depth_cm"]: p for p in json.loads((out_dir / "config.json").read_text())["probes"]}
    assert (probes[30]["dry_raw"], probes[30]["wet_raw"]) == (43368, 16724)
    assert (probes[10]["dry_raw"], probes[10]["wet_raw"]) != (43368, 16724)


def test_calibrate_takes_fresh_counts_from_the_probe_as_the_technician_confirms(demo, capsys, monkeypatch):
    """The guided session waits at each point for a raw count newer than when the technician placed the
    probe, shows it, takes it on Enter and reads again on `r`. The emulated probe stays in the same soil
    for the dry and the wet point, so their counts are nearly equal and the fit is refused, saying so
    (exit 1); the registry is left alone."""
    before = demo.get("/registry/nodes/soil-01")["calibration"]
    rc, out, err = furrow(capsys, monkeypatch, demo.tech, "node", "calibrate", "soil-01", "--depth", "10",
                          "--no-store", "--wait", "60", "--api", demo.url, stdin="\n\n\nr\n\n")
    taken = [int(n) for n in re.findall(r"raw (\d+) at \d\d:\d\d:\d\d", err)]
    assert len(taken) == 3 and all(20_000 < n < 50_000 for n in taken), err  # the emulated probe's span
    assert rc == 1 and ("nearly equal" in err or "swapped" in err), out + err  # noise may run either way
    assert demo.get("/registry/nodes/soil-01")["calibration"] == before


def test_a_gateway_token_is_refused_naming_the_role_needed(demo, capsys, monkeypatch):
    """A gateway's token may not read commissioning views nor store a fit: exit 2, and the message
    names the API and the technician role it takes."""
    gateway = demo.token("demo.gw-1", "gateway")
    rc, _, err = furrow(capsys, monkeypatch, gateway, "node", "check", "soil-01", "--wait", "5", "--api", demo.url)
    assert rc == 2
    assert f"not allowed by the API at {demo.url}" in err and "technician" in err
    agronomist = demo.token("maria", "agronomist")
    rc, _, err = furrow(capsys, monkeypatch, agronomist, "node", "calibrate", "soil-01", "--depth", "10",
                        "--points", "41000:4,18500:42", "--api", demo.url)
    assert rc == 2 and "may not registry_write" in err and "technician" in err


def test_an_unreachable_api_is_named_with_exit_2(capsys, monkeypatch):
    """With nothing listening at --api, check says which URL it could not reach and exits 2 at once."""
    url = f"http://127.0.0.1:{free_port()}"
    rc, _, err = furrow(capsys, monkeypatch, "fw_x_nothing", "node", "check", "soil-01", "--wait", "30", "--api", url)
    assert rc == 2 and f"cannot reach the API at {url}" in err


@pytest.mark.parametrize("points", [[(41000, 4.0), (18500, 42.0)], [(52000, 0.0), (22000, 45.0)]])
def test_node_settings_reproduce_the_fit_in_the_firmware_driver(points):
    """The dry and wet counts printed for the node make the firmware's own driver give the fitted
    water content across the span."""
    (r1, v1), (r2, v2) = points
    c1 = (v2 - v1) / (r2 - r1)
    c0 = v1 - c1 * r1
    settings = node_settings({"c0": c0, "c1": c1, "c2": 0.0}, 45.0, slot=2)
    cfg = settings["config"]
    assert settings["registers"] == [(12, cfg["dry_raw"]), (13, cfg["wet_raw"])]

    class Adc:
        raw = 0

        def read_u16(self) -> int:
            return self.raw

    adc = Adc()
    probe = CapacitiveMoisture(adc, cfg["dry_raw"], cfg["wet_raw"], vwc_wet_pct=cfg["vwc_wet_pct"], samples=1)
    for raw in (r1, (r1 + r2) // 2, r2):
        adc.raw = raw
        assert probe.read()[0] == pytest.approx(c0 + c1 * raw, abs=0.01)


def test_a_curve_goes_to_config_as_poly_and_replaces_nothing_else():
    """A quadratic fit is given as config.json's `poly` in x = raw/65535 (registers cannot hold it), and
    writing it into a config touches only the probe at that depth."""
    settings = node_settings({"c0": 74.0, "c1": -0.0018333, "c2": 6.6667e-09}, 45.0, slot=0)
    assert settings["registers"] is None and "poly" in settings["config"] and "registers" in settings["note"]
    x = 30000 / 65535
    c = settings["config"]["poly"]
    assert c[0] + c[1] * x + c[2] * x * x == pytest.approx(74.0 - 0.0018333 * 30000 + 6.6667e-09 * 30000**2, abs=0.01)
    cfg = {"probes": [{"depth_cm": 10, "dry_raw": 1, "wet_raw": 2}, {"depth_cm": 30, "dry_raw": 3, "wet_raw": 4}]}
    update_config(cfg, 30, settings["config"])
    assert cfg["probes"][0] == {"depth_cm": 10, "dry_raw": 1, "wet_raw": 2} and cfg["probes"][1]["poly"] == c
    with pytest.raises(ValueError, match="no probe at depth_cm=60"):
        update_config(cfg, 60, settings["config"])


def test_a_probes_own_fit_wins_over_the_nodes_and_calibrated_needs_every_probe():
    """The cloud applies a probe's own fit at its depth and the node-wide one elsewhere; the checklist's
    `calibrated` item holds with a node-wide fit, or with a fit of its own for every registered depth."""
    from furrow.cloud.commissioning import apply_calibration, checklist, depth_key

    cal = {"c0": 50.0, "c1": -0.001, depth_key(30, "c0"): 70.0, depth_key(30, "c1"): -0.002}
    assert apply_calibration(cal, 20000, 30) == pytest.approx(30.0)
    assert apply_calibration(cal, 20000, 10) == pytest.approx(30.0) and apply_calibration(cal, 10000, 10) == 40.0
    assert apply_calibration({depth_key(30, "c0"): 70.0, depth_key(30, "c1"): -0.002}, 20000, 10) is None

    def calibrated(calibration):
        node = {"role": "soil", "zone_id": None, "depths_cm": [10, 30], "calibration": calibration}
        items = checklist(registered=node, zone=None, last_seen_ms=None, faults=(), live=[], now_ms=0)["items"]
        return next(i for i in items if i["name"] == "calibrated")

    assert not calibrated({depth_key(30, "c1"): -0.002})["ok"]
    assert calibrated({depth_key(30, "c1"): -0.002, depth_key(10, "c1"): -0.002})["ok"]
    assert calibrated({"c0": 50.0, "c1": -0.001})["ok"] and not calibrated(None)["ok"]


# --- refusals and a silent node, without the demo: a real uvicorn with one soil node registered ---


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from furrow.cloud import create_app
    from tests.cloud_support import ADMIN, local_settings
    from tests.http_support import UvicornThread

    with UvicornThread(create_app(local_settings(tmp_path_factory.mktemp("calibrate")))) as server:
        for path, body in [("sites", {"id": "s1", "name": "Farm"}), ("fields", {"id": "f1", "site_id": "s1",
                                                                                "name": "F"}),
                           ("zones", {"id": "z1", "field_id": "f1", "name": "Z", "area_ha": 1.0,
                                      "soil_texture": "loam", "field_capacity_pct": 31.0, "wilting_point_pct": 14.0,
                                      "root_depth_cm": 30, "crop": "maize", "precip_rate_mm_h": 12.0}),
                           ("nodes", {"id": "soil-05", "role": "soil", "zone_id": "z1", "depths_cm": [10, 30]})]:
            httpx.post(f"{server.url}/api/v1/registry/{path}", json=body, headers=ADMIN, timeout=10).raise_for_status()
        server.admin = ADMIN["Authorization"].split()[1]  # type: ignore[attr-defined]
        yield server


@pytest.mark.parametrize(("points", "why"), [
    ("41000:0,40500:45", "the dry and wet counts are nearly equal"),  # 11 counts per % (probes: 67 to 2,000)
    ("41000:0,18500:0.45", "are the water contents in % (45, not 0.45)?"),  # a fraction given for a percentage
    ("18000:3,40000:41", "were the dry and wet points swapped?"),  # water rising with the count
])
def test_calibrate_refuses_points_no_capacitive_probe_gives_and_says_why(api, capsys, monkeypatch, points, why):
    """Dry and wet points nearly equal, too far apart for their water contents, or rising with the
    count are refused (exit 1, nothing stored) with the reason, instead of a fit stored as good."""
    rc, out, err = furrow(capsys, monkeypatch, api.admin, "node", "calibrate", "soil-05", "--depth", "10",
                          "--points", points, "--api", api.url)
    assert rc == 1 and why in err and "stored" not in out, out + err
    registered = httpx.get(f"{api.url}/api/v1/registry/nodes/soil-05",
                           headers={"Authorization": f"Bearer {api.admin}"}, timeout=10).json()
    assert registered["calibration"] is None


def test_check_of_a_node_never_heard_says_not_heard_yet_without_false_ticks_or_advice(api, capsys, monkeypatch):
    """A registered node that never reported: every item judged on readings says "not heard yet",
    none is ticked (no_faults was ✓ "none reported") and the only advice is the `heard` item's (it
    also told to check the probes' wiring and the registered depths)."""
    rc, _, err = furrow(capsys, monkeypatch, api.admin, "node", "check", "soil-05", "--wait", "0", "--api", api.url)
    assert rc == 2 and "not heard yet" in err
    lines = {line.split()[1]: line for line in err.splitlines() if line.startswith("  ") and len(line.split()) > 1
             and line.split()[0] in "✓✗·…"}
    for item in ("first_good_reading", "depths", "no_faults"):
        assert lines[item].split()[0] == "…" and lines[item].rstrip().endswith("not heard yet"), lines
    assert lines["heard"].split()[0] == "✗" and "furrow broker config" in err
    assert "✓" not in err.replace(lines["registered"], "")
    assert "check the probes' wiring" not in err and "report other depths" not in err


def test_the_demo_farm_has_machines_at_work(demo):
    """The demo's season has its machines (hil/demo_machines.py): both trackers with fixes through the gateway,
    each block sown (covered area, the crop's planted area from it), the early block harvested with its yield
    monitor log totalled, and each zone's expected yield in t/ha from the farm's Ym."""
    machines = {m["node"]: m for m in demo.get("/machines")}
    assert set(machines) >= {"trk-tractor", "trk-combine"}, machines
    assert machines["trk-tractor"]["fixes"] > 3000 and machines["trk-combine"]["fixes"] > 900
    last = machines["trk-combine"]["t_ms"]
    track = demo.get(f"/machines/trk-combine/track?from_ms={last - 86_400_000}&to_ms={last + 1}")
    assert len(track["features"]) == machines["trk-combine"]["fixes"]
    ops = demo.get("/operations")
    sown = {o["field_id"]: o for o in ops if o["kind"] == "sowing"}
    harvested = [o for o in ops if o["kind"] == "harvest"]
    assert sum(o["covered_ha"] for o in ops if o["kind"] == "sowing") == pytest.approx(3.5, rel=0.02), sown
    assert [o["field_id"] for o in harvested] == ["early"]
    assert harvested[0]["covered_ha"] == pytest.approx(1.8, rel=0.02)
    [log] = demo.get("/yield-logs")
    assert log["field_id"] == "early" and log["mass_kg"] == pytest.approx(16_875, rel=0.03)  # what the header cut
    # the harvest's lot, added by the technician to the combine's record: it traces back to the early block
    [season] = [c["season"] for c in demo.get("/trace/chains") if c["field"] == "early"]
    lot = demo.get(f"/trace/lots/EB-{season}-001")
    assert lot["fields"] == ["early"] and lot["verified"], lot
    assert lot["quantity_kg"] == round(log["mass_kg"]) and lot["harvests"][0]["moisture_pct"] == 15.5, lot
    [maize] = demo.get("/progress/crops")["crops"]
    assert maize["planted_ha"] == pytest.approx(3.5, rel=0.02)
    for zone in ("north", "south"):
        x = demo.get(f"/zones/{zone}/expected-yield")
        assert x["ym_t_ha"] == 12.0 and x["ya_t_ha"] is not None and 0 < x["ya_t_ha"] <= 12.0, x


def test_the_demo_farm_has_soil_tests_a_recommendation_and_its_basal_dressing(demo):
    """The demo's fertility (hil/demo_fertility.py): each block's four soil-test points, each inside the block and
    each its own label's room on the soil map; the season's recommendation for 12 t/ha with N, P2O5 and K2O needed
    and a feasible basal mix (the poorer south block needing more N); and that mix recorded as spread on the
    block's sowing day."""
    need_n = {}
    for zone in ("north", "south"):
        points = demo.get(f"/zones/{zone}/soil-map")["points"]
        assert sorted(p["point"] for p in points) == ["P1", "P2", "P3", "P4"] and all(p["inside"] for p in points)
        assert len({p["lat"] for p in points}) == 4, points  # a zig-zag down the block: no two labels on one row
        [rec] = demo.get(f"/zones/{zone}/fertility/recommendations")
        assert rec["target_yield_kg_ha"] == 12_000 and rec["crop"] == "maize", rec
        needs = {n["nutrient"]: n["rate_kg_ha"] for n in rec["needs"]}
        assert set(needs) == {"N", "P2O5", "K2O"} and all(v > 0 for v in needs.values()), needs
        need_n[zone] = needs["N"]
        [basal] = [a for a in rec["applications"] if a["kind"] == "basal"]
        assert basal["feasible"], basal
        sown = demo.get(f"/registry/zones/{zone}")["planting_date"]
        applied = demo.get(f"/zones/{zone}/fertility/applications")
        assert {a["applied_on"] for a in applied} == {sown}, applied
        assert {a["product_id"]: a["rate_kg_ha"] for a in applied} == {
            p: round(kg, 1) for p, kg in basal["products_kg_ha"].items() if kg > 0}, (applied, basal)
    assert need_n["south"] > need_n["north"], need_n


def test_technician_registers_and_edits_machinery_from_the_cli(capsys, monkeypatch, tmp_path):
    """Against a real uvicorn: `furrow node add --role tracker --site` commissions the tractor's tracker (registered
    at the site, in no zone, its broker login of that site in a config.json the firmware's check accepts; a tracker
    given a zone, or no site, is refused before anything is registered); `furrow implement add`, `machine add` (its
    tracker, implement and operator) and `region add` register through the registry API; `machine add` again
    changes only the options given; a refused value is exit 1 naming the field and value; `machine list` prints
    the registry's; every change is audited."""
    from furrow.cloud import create_app
    from furrow.firmware.config import validate
    from tests.cloud_support import ADMIN_TOKEN, local_settings
    from tests.http_support import UvicornThread

    with UvicornThread(create_app(local_settings(tmp_path))) as server:
        admin = httpx.Client(base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                             timeout=30)
        for path, body in (("sites", {"id": "s1", "name": "Farm"}),
                           ("fields", {"id": "north", "site_id": "s1", "name": "North"})):
            assert admin.post(f"/registry/{path}", json=body).status_code == 201
        tech = admin.post("/auth/tokens", json={"user": "tom", "role": "technician"}).json()["token"]
        assert admin.post("/auth/tokens", json={"user": "li-wei", "role": "operator"}).status_code == 201
        api = ("--api", server.url)
        for place in (("--zone", "north-1"), ()):  # a tracker rides a machine: in no zone, at a site
            rc, _, err = furrow(capsys, monkeypatch, tech, "node", "add", "trk-02", "--role", "tracker", *place,
                                "--out", str(tmp_path / "trk"), *api)
            assert rc == 2 and "give its site (--site SITE)" in err, err
        assert admin.get("/registry/nodes/trk-02").status_code == 404
        rc, _, err = furrow(capsys, monkeypatch, tech, "node", "add", "trk-02", "--role", "tracker", "--site", "s1",
                            "--out", str(tmp_path / "trk"), "--mqtt-host", "mqtt.farm.example", *api)
        assert rc == 0 and "registered in site s1" in err and "(site s1)" in err, err
        cfg, errors = validate(json.loads((tmp_path / "trk" / "config.json").read_text()))
        assert errors == [] and (cfg["node"], cfg["role"], cfg["site"], cfg["link"]) == ("trk-02", "tracker", "s1",
                                                                                            "mqtt")
        assert cfg["mqtt"]["user"] == "trk-02" and cfg["mqtt"]["host"] == "mqtt.farm.example"
        assert cfg["mqtt"]["password"] not in err
        registered = admin.get("/registry/nodes/trk-02").json()
        assert (registered["role"], registered["site_id"], registered["zone_id"]) == ("tracker", "s1", None)
        rc, out, err = furrow(capsys, monkeypatch, tech, "implement", "add", "drill-6m", "--name", "Drill 6 m",
                              "--kind", "drill", "--width-m", "6", "--operation", "sowing", *api)
        assert rc == 0 and json.loads(out)["operations"] == ["sowing"], err
        rc, out, err = furrow(capsys, monkeypatch, tech, "machine", "add", "tractor-2", "--name", "Tractor 2",
                              "--type", "tractor", "--width-m", "6", "--speed-kmh", "8", "--node", "trk-02",
                              "--implement", "drill-6m", "--operator", "li-wei", *api)
        assert rc == 0 and "registered" in err, err
        assert json.loads(out) | {} == {**json.loads(out), "node_id": "trk-02", "operator": "li-wei",
                                        "status": "available", "implement_ids": ["drill-6m"]}
        rc, out, err = furrow(capsys, monkeypatch, tech, "machine", "add", "tractor-2", "--status", "broken", *api)
        assert rc == 0 and "changed status" in err, err
        edited = admin.get("/registry/machines/tractor-2").json()
        assert (edited["status"], edited["node_id"], edited["speed_kmh"], edited["operator"]) == (
            "broken", "trk-02", 8, "li-wei")
        rc, _, err = furrow(capsys, monkeypatch, tech, "machine", "add", "tractor-3", "--name", "T3", "--type",
                            "tractor", "--width-m", "6", "--speed-kmh", "8", "--implement", "plough", *api)
        assert rc == 1 and "implement_ids.0='plough'" in err, err
        rc, _, err = furrow(capsys, monkeypatch, tech, "region", "add", "east", "--name", "East", "--field", "north",
                            *api)
        assert rc == 0, err
        rc, out, _ = furrow(capsys, monkeypatch, tech, "machine", "list", *api)
        assert rc == 0 and [json.loads(line)["id"] for line in out.splitlines()] == ["tractor-2"]
        actions = [(e["actor"], e["action"]) for e in admin.get("/audit", params={"limit": 50}).json()]
        assert [a for a in actions if a[0] == "tom"] == [
            ("tom", "registry.create_region"), ("tom", "registry.replace_machine"), ("tom", "registry.create_machine"),
            ("tom", "registry.create_implement"), ("tom", "credentials.issue"), ("tom", "registry.create_node")]
        admin.close()


def test_a_tracker_registered_without_a_site_is_named_and_given_one(capsys, monkeypatch, caplog, tmp_path):
    """A tracker registered with no site (as before migration 0032, on a farm of two sites, where 0034 cannot choose
    one): the cloud names it at its next start with the command that fixes it, and its commissioning checklist
    fails `registered` saying the same; `furrow node add trk-old --role tracker --site s2` gives it the site and a
    broker login of s2, and the checklist then passes it as "role tracker, site s2"."""
    import logging

    from furrow.cloud import create_app
    from tests.cloud_support import ADMIN_TOKEN, local_settings
    from tests.http_support import UvicornThread

    settings = local_settings(tmp_path)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with UvicornThread(create_app(settings)) as server:
        with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as admin:
            for site in ("s1", "s2"):
                assert admin.post("/registry/sites", json={"id": site, "name": site}).status_code == 201
            r = admin.post("/registry/nodes", json={"id": "trk-old", "role": "tracker"})
            assert r.status_code == 201, r.text
    with caplog.at_level(logging.WARNING, logger="furrow.cloud.app"), UvicornThread(create_app(settings)) as server:
        assert ("tracker trk-old (organisation default) has no site" in caplog.text
                and "furrow node add trk-old --role tracker --site SITE --out DIR" in caplog.text), caplog.text
        with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as admin:
            [item] = [i for i in admin.get("/nodes/trk-old/commissioning").json()["items"] if i["name"] == "registered"]
            assert (item["ok"], item["detail_key"]) == (False, "check.tracker-no-site")
            assert "furrow node add trk-old --role tracker --site SITE --out DIR" in item["detail"]
            rc, _, err = furrow(capsys, monkeypatch, ADMIN_TOKEN, "node", "add", "trk-old", "--role", "tracker",
                                "--site", "s2", "--out", str(tmp_path / "trk"), "--api", server.url)
            assert rc == 0 and "was registered with no site: now at site s2" in err and "(site s2)" in err, err
            assert admin.get("/registry/nodes/trk-old").json()["site_id"] == "s2"
            [item] = [i for i in admin.get("/nodes/trk-old/commissioning").json()["items"] if i["name"] == "registered"]
            assert (item["ok"], item["detail_key"], item["detail"]) == (True, "check.registered-site",
                                                                        "role tracker, site s2")
