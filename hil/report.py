"""A scenario's report folder: report.md and PNG plots (matplotlib, Agg backend: no display).

Plots drawn from `ScenarioResult.series` when the scenario provides them:

- depletion.png  per zone, the true root-zone depletion (daily maximum)
                 against RAW, the stress threshold: above the line is a stress day
- water.png      rain and irrigation per day (irrigation as the mean over zones)
- valves.png     the fault scenarios: each valve's drive (open/closed) over the run
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from furrow.hil.scenarios import RunOptions, ScenarioResult

PNG_DPI = 100


def scratch_root() -> str | None:
    """Where a run keeps its working files: a RAM disk when there is one. The gateway
    buffer fsyncs every commit (for power cuts a simulation does not have), and a
    season commits thousands of times; on tmpfs an fsync costs nothing."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix, dir=scratch_root())


def _zones(result: ScenarioResult) -> list[str]:
    return sorted(k.split(":", 1)[1] for k in result.series if k.startswith("depletion_mm:"))


def plot_depletion(result: ScenarioResult, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zones = _zones(result)
    if not zones:
        return False
    cols = min(len(zones), 2)
    rows = (len(zones) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 2.2 * rows), sharex=True, squeeze=False)
    for ax, zone in zip(axes.flat, zones, strict=False):
        xs, dr = result.series[f"depletion_mm:{zone}"]
        _, raw = result.series[f"raw_mm:{zone}"]
        ax.plot(xs, dr, label="depletion (true, daily max)", color="tab:brown")
        ax.plot(xs, raw, label="RAW (stress threshold)", color="tab:red", linestyle="--")
        ax.invert_yaxis()  # drier is lower, as agronomists draw it
        ax.set_title(zone, fontsize=9)
        ax.set_ylabel("mm")
    for ax in axes.flat[len(zones):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Root-zone depletion against RAW per zone")
    fig.supxlabel("day of the run")
    fig.tight_layout()
    fig.savefig(path, dpi=PNG_DPI)
    plt.close(fig)
    return True


def plot_water(result: ScenarioResult, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zones = _zones(result)
    if "rain_mm" not in result.series or not zones:
        return False
    xs, rain = result.series["rain_mm"]
    irr = [0.0] * len(xs)
    for zone in zones:
        _, ys = result.series[f"irrigation_mm:{zone}"]
        irr = [a + b / len(zones) for a, b in zip(irr, ys, strict=False)]
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.bar(xs, rain, width=0.8, color="tab:blue", label="rain")
    ax.bar(xs, irr, width=0.8, bottom=rain, color="tab:green", label="irrigation (mean of zones)")
    ax.set_xlabel("day of the run")
    ax.set_ylabel("mm per day")
    ax.legend(fontsize=8)
    ax.set_title("Water in: rain and irrigation")
    fig.tight_layout()
    fig.savefig(path, dpi=PNG_DPI)
    plt.close(fig)
    return True


def plot_valves(result: ScenarioResult, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(k for k in result.series if k.startswith("valve_open:"))
    if not names:
        return False
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 0.9 * len(names) + 1), sharex=True, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=True):
        xs, ys = result.series[name]
        ax.fill_between(xs, ys, step=None, color="tab:green", alpha=0.6)
        ax.set_ylim(0, 1.2)
        ax.set_yticks([])
        ax.set_ylabel(name.split(":", 1)[1], rotation=0, ha="right", fontsize=8)
    axes.flat[-1].set_xlabel("seconds since the first valve opened (the controller's clock)")
    fig.suptitle("Valve drive: open (filled) or closed")
    fig.tight_layout()
    fig.savefig(path, dpi=PNG_DPI)
    plt.close(fig)
    return True


def write_report(scenario: str, summary: str, options: RunOptions, result: ScenarioResult, out: Path) -> Path:
    """Write report.md, summary.json and the plots into `out`; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    data = result.summary()
    (out / "summary.json").write_text(json.dumps(data, indent=2) + "\n")
    plots = [name for name, draw in (("depletion.png", plot_depletion), ("water.png", plot_water),
                                     ("valves.png", plot_valves))
             if draw(result, out / name)]
    lines = [f"# HIL scenario `{scenario}`", "", summary, "",
             f"Policy `{options.policy}`, seed {options.seed}.", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {json.dumps(v)} |" for k, v in data.items()]
    lines += ["", "Definitions: docs/hil.md (Metrics).", ""]
    for name in plots:
        lines += [f"![{name}]({name})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
