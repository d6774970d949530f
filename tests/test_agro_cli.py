"""`furrow agro` run as a real command on small CSV files.

The main paths run the installed command in a subprocess; the error cases call the
same entry point (`furrow.cli.main`) in-process, because every subprocess pays for
importing furrow.cloud (about 3 s, see the report on cloud/__init__.py).
"""

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "agro"


def furrow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "furrow.cli", "agro", *args], capture_output=True, text=True,
                          timeout=60)


def furrow_in_process(capsys, *args: str) -> tuple[int, str, str]:
    """Run `furrow agro ARGS` through furrow.cli.main; return (exit code, stdout, stderr)."""
    from furrow.cli import main

    try:
        code = main(["agro", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_et0_daily_brussels_writes_rows_back_with_et0():
    """Example 18 as a station CSV: the row comes back unchanged with et0_mm 3.88 (printed 3.9)."""
    out = furrow("et0", "--lat", "50.8", "--elevation", "100", "--wind-height", "10",
                 str(DATA / "brussels_daily.csv"))
    assert out.returncode == 0, out.stderr
    (row,) = rows(out.stdout)
    assert row["tmin_c"] == "12.3" and row["sunshine_h"] == "9.25"
    assert round(float(row["et0_mm"]), 1) == 3.9


def test_et0_hourly_ndiaye_night_and_day():
    """Example 19 as an hourly CSV (times with offset, end of hour): 0.00 and 0.63 mm/h."""
    out = furrow("et0", "--lat", "16.2167", "--lon", "-16.25", "--elevation", "8", "--timestep", "hourly",
                 str(DATA / "ndiaye_hourly.csv"))
    assert out.returncode == 0, out.stderr
    night, day = rows(out.stdout)
    assert round(float(night["et0_mm"]), 2) == 0.0
    assert round(float(day["et0_mm"]), 2) == 0.63


def test_et0_empty_cells_apply_missing_data_rules(capsys):
    """Empty optional cells fall back to FAO-56's missing-data rules instead of failing."""
    code, stdout, stderr = furrow_in_process(capsys, "et0", "--lat", "50.8", "--elevation", "100",
                                             str(DATA / "missing_cells.csv"))
    assert code == 0, stderr
    values = [float(r["et0_mm"]) for r in rows(stdout)]
    assert len(values) == 3 and all(0.5 < v < 8 for v in values)


@pytest.mark.parametrize(("content", "needle"), [
    ("date,tmin_c,tmax_c\n2026-07-06,12.3,abc\n", "row 2, column 'tmax_c': not a number"),
    ("date,tmin_c,tmax_c\n2026-07-06,12.3,20\n2026-13-07,12,20\n", "row 3, column 'date'"),
    ("date,tmin_c\n2026-07-06,12.3\n", "column 'tmax_c': required column is missing"),
    ("date,tmin_c,tmax_c,rh_max_pct\n2026-07-06,12.3,20,140\n", "row 2, column 'rh_max_pct': outside 0..100"),
    ("date,tmin_c,tmax_c\n2026-07-06,22,20\n", "row 2, column 'tmax_c': below tmin_c"),
])
def test_et0_malformed_file_names_row_and_column_exit_2(capsys, tmp_path, content, needle):
    """A bad cell is reported on stderr naming its row and column, exit code 2, nothing on stdout."""
    f = tmp_path / "bad.csv"
    f.write_text(content)
    code, stdout, stderr = furrow_in_process(capsys, "et0", "--lat", "50", "--elevation", "0", str(f))
    assert code == 2
    assert needle in stderr
    assert stdout == ""


def test_et0_malformed_file_real_command_has_no_traceback(tmp_path):
    """The installed command reports a bad cell in one line with exit code 2 and no traceback."""
    f = tmp_path / "bad.csv"
    f.write_text("date,tmin_c,tmax_c\n2026-07-06,12.3,abc\n")
    out = furrow("et0", "--lat", "50", "--elevation", "0", str(f))
    assert out.returncode == 2
    assert out.stderr.strip() == f"furrow agro et0: {f}: row 2, column 'tmax_c': not a number (got 'abc')"


def test_et0_hourly_without_offset_or_lon_is_refused(capsys, tmp_path):
    """Hourly times need a UTC offset, and hourly ET0 needs --lon; both exit 2 with a message."""
    f = tmp_path / "h.csv"
    f.write_text("time,temp_c\n2026-10-01T15:00,30\n")
    code, _, stderr = furrow_in_process(capsys, "et0", "--lat", "16", "--lon", "-16", "--elevation", "8",
                                        "--timestep", "hourly", str(f))
    assert code == 2 and "row 2, column 'time': needs a UTC offset" in stderr
    code, _, stderr = furrow_in_process(capsys, "et0", "--lat", "16", "--elevation", "8", "--timestep", "hourly",
                                        str(DATA / "ndiaye_hourly.csv"))
    assert code == 2 and "--lon" in stderr


def test_et0_missing_file_and_ragged_rows_exit_2(capsys, tmp_path):
    """A missing file, or a row with more cells than the header, is an input error naming it."""
    code, _, stderr = furrow_in_process(capsys, "et0", "--lat", "50", "--elevation", "0", "/nonexistent/x.csv")
    assert code == 2 and "/nonexistent/x.csv" in stderr
    f = tmp_path / "ragged.csv"
    f.write_text("date,tmin_c,tmax_c\n2026-07-06,12.3,20,7\n")
    code, _, stderr = furrow_in_process(capsys, "et0", "--lat", "50", "--elevation", "0", str(f))
    assert code == 2 and "row 2" in stderr


def test_balance_writes_the_hand_worked_season():
    """`agro balance` on the hand-worked season of test_agro_water_balance ends at Dr 4.20 mm with DP 3.81 on day 9."""
    out = furrow("balance", "--zone", str(DATA / "zone.toml"), str(DATA / "season.csv"))
    assert out.returncode == 0, out.stderr
    table = rows(out.stdout)
    assert len(table) == 10
    assert table[0]["taw_mm"] == "90.0"
    assert table[8]["dp_mm"] == "3.81" and table[8]["dr_mm"] == "0.00"
    assert table[-1]["dr_mm"] == "4.20"


def test_balance_bad_zone_file_names_the_field(capsys, tmp_path):
    """A zone TOML with an impossible soil is refused, naming the field, exit 2."""
    bad = (DATA / "zone.toml").read_text().replace("theta_wp = 0.15", "theta_wp = 0.35")
    f = tmp_path / "zone.toml"
    f.write_text(bad)
    code, _, stderr = furrow_in_process(capsys, "balance", "--zone", str(f), str(DATA / "season.csv"))
    assert code == 2 and "soil" in stderr and "theta_fc" in stderr


def test_gdd_sine_with_upper_threshold(tmp_path):
    """`agro gdd` adds the day's and the cumulative degree days to each row."""
    f = tmp_path / "t.csv"
    f.write_text("date,tmin_c,tmax_c\n2026-05-01,5,15\n2026-05-02,12,20\n2026-05-03,20,36\n")
    out = furrow("gdd", "--base", "10", "--upper", "30", "--method", "sine", str(f))
    assert out.returncode == 0, out.stderr
    table = rows(out.stdout)
    assert table[1]["gdd"] == "6.00"  # wholly between the thresholds: mean 16 - 10
    assert 0 < float(table[0]["gdd"]) < 2.5
    assert float(table[2]["gdd_cum"]) == pytest.approx(sum(float(r["gdd"]) for r in table), abs=0.011)



def test_gdd_upper_below_base_is_refused(capsys, tmp_path):
    """--upper at or below --base is an input error, exit 2."""
    f = tmp_path / "t.csv"
    f.write_text("date,tmin_c,tmax_c\n2026-05-01,5,15\n")
    code, _, stderr = furrow_in_process(capsys, "gdd", "--base", "10", "--upper", "5", str(f))
    assert code == 2 and "--upper" in stderr
