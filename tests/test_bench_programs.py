"""Every program in bench/ runs, in a tiny configuration, and cleans up after itself.

Each runs as a user would run it (a subprocess from the repository root), with its temporary
folder pointed at a fresh empty one: afterwards that folder must be empty again, and the last
line printed must be one JSON object holding the program's figures. Nothing here times
anything: the figures themselves live in docs/performance.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# program, tiny arguments, keys its JSON line must hold
PROGRAMS = [
    ("codecs.py", ["--seconds", "0.01"], {"decode_json"}),
    ("command_signing.py", ["--seconds", "0.01", "--mp-iterations", "3"],
     {"cloud: sign a command", "micropython: check MAC"}),
    ("fuzz.py", ["-n", "20", "--progress", "0"], {"inputs", "crashes"}),
    ("gateway_ingest.py", ["--messages", "60", "--single", "5"], {"inflight_20", "inflight_100"}),
    ("gateway_backlog.py", ["--nodes", "5", "--hours", "0.5", "--batch", "50"], {"drain_reports_s", "share"}),
    ("gateway_modbus.py", ["--nodes", "1", "--seconds", "0.5"], {"merged_share", "whole_share", "bare_short_silences"}),
    ("pipeline.py", ["--reports", "40", "--nodes", "4"], {"gateway_share", "e2e_share_of_publisher"}),
    ("cloud_ingest.py", ["--batches", "2", "--items", "5", "--days", "1", "--queries", "2", "--zones", "1",
                         "--workers", "1", "--in-flight", "4"], {"workers_1_in_flight_4", "chart_1h"}),
    ("hil_season.py", ["--days", "2", "--policy", "furrow"], {"raw_farm_cores", "season_furrow"}),
    ("demo_season.py", ["--days", "2"], {"raw_wall_s", "season_wall_s", "season_days"}),
    ("canopy_cover.py", ["--megapixels", "0.5", "--seconds", "0.01"], {"cover_mp_s", "raw_multiply_mp_s"}),
    ("gateway_images.py", ["--images", "3", "--nodes", "2", "--width", "320", "--height", "240"],
     {"gateway_images_s", "raw_images_s", "share"}),
    ("trap_counter.py", ["--counts", "0,5"], {"error_share", "mean_count_ms"}),
    ("firmware_heap.py", ["--roles", "soil", "--cycles", "5"], {"rows", "cycles"}),  # builds the unix port once
    ("worked_area.py", ["--hours", "0.1", "--field-ha", "2", "--repeat", "1"], {"worked_area_s", "raw_union_s"}),
    ("track_ingest.py", ["--batches", "2", "--items", "2"], {"ingest_fixes_s", "raw_fixes_s"}),
    ("trace_verify.py", ["--records", "20"], {"verify_per_cpu_s", "raw_sha256_per_cpu_s"}),
    ("yield_clean.py", ["--passes", "4", "--length-m", "100", "--repeat", "1"], {"harvest_s", "worked_area_s"}),
    ("alert_eval.py", ["--nodes", "3", "--reports", "2", "--rounds", "1"], {"runs", "reports_per_node"}),
    ("influx_answer_formats.py", ["--rounds", "1", "--days", "2"], {"rows", "formats"}),
    ("tenancy_filter.py", ["--nodes", "5", "--items", "2", "--requests", "2"], {"nodes_single", "ingest_several"}),
]


# In the full tier only: each says why. peer_nodered.py installs Node-RED from npm into its cache
# (FURROW_BENCH_CACHE, ~/.cache/furrow-bench; minutes on its first run), then starts Node-RED, the cloud
# and the gateway as processes and waits 30 s for late readings: about two minutes with the cache.
FULL = [
    ("peer_nodered.py", ["--messages", "30", "--rates", "0", "--rounds", "1", "--settle", "3"], {"furrow", "node-red"}),
]


@pytest.fixture
def bare_tmp():
    """A fresh temporary folder the servers' users (postgres) can reach, removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="furrow-benchtest-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize(("program", "args", "keys"),
                         PROGRAMS + [pytest.param(*p, marks=pytest.mark.full) for p in FULL],
                         ids=[p[0] for p in PROGRAMS + FULL])
def test_bench_program_runs_reports_json_and_cleans_up(program, args, keys, bare_tmp):
    """The program exits 0, ends with one JSON line holding its figures, and leaves nothing in its temp folder."""
    extra = ["--out", str(bare_tmp / "crashes")] if program == "fuzz.py" else []
    env = {**os.environ, "TMPDIR": str(bare_tmp), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / program), *args, *extra], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert keys <= set(figures), figures
    assert list(bare_tmp.iterdir()) == [], f"{program} left {sorted(p.name for p in bare_tmp.iterdir())}"


def test_every_bench_program_is_tried():
    """A new bench program cannot be added without a tiny run here (or a reason it has none)."""
    assert {p.name for p in (ROOT / "bench").glob("*.py")} == {p[0] for p in PROGRAMS + FULL}
