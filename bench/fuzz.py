"""The long fuzz run: N generated inputs per decoder, crashes minimised and saved.

Every decoder at a trust boundary (see tests/fuzz_targets.py and
tests/fuzz_files.py), and the cloud's HTTP API over every route on a real
uvicorn (`api`, tests/fuzz_api.py: a crash is a 5xx, a closed connection or an
error not in the API's one shape), gets N inputs drawn by its structured
generator (valid inputs, then mutated). Input i of decoder D is drawn from
``random.Random(seed * 10**9 + i)`` alone, so one input is reproducible from
its number. For each decoder the run prints inputs tried, accepted, rejected
by reason class, crashes and run time. A crash is any exception other than
the decoder's documented rejection, or a rejection that does not name the
field and value; its input is minimised and written, with the traceback, to
the crash folder. Exit status 1 when anything crashed.

    nice .venv/bin/python bench/fuzz.py                  # 100,000 per decoder, every decoder
    .venv/bin/python bench/fuzz.py -n 2000 uplink_json batch
    nice .venv/bin/python bench/fuzz.py -n 20000 api     # 20,000 requests over every route
    .venv/bin/python bench/fuzz.py --list
    .venv/bin/python bench/fuzz.py --replay uplink_json 1234 [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package, run from anywhere

from tests.fuzz_api import API_TARGET  # noqa: E402
from tests.fuzz_files import FILE_TARGETS  # noqa: E402
from tests.fuzz_support import Crash, Target, minimize, run_one  # noqa: E402
from tests.fuzz_targets import TARGETS  # noqa: E402

ALL: dict[str, Target] = {**TARGETS, **FILE_TARGETS, API_TARGET.name: API_TARGET}


@dataclass
class Tally:
    name: str
    tried: int = 0
    accepted: collections.Counter = field(default_factory=collections.Counter)
    rejected: collections.Counter = field(default_factory=collections.Counter)
    crashes: collections.Counter = field(default_factory=collections.Counter)
    saved: list[str] = field(default_factory=list)
    seconds: float = 0.0
    generator_errors: collections.Counter = field(default_factory=collections.Counter)


def draw(target: Target, seed: int, i: int):
    return target.generate(random.Random(seed * 10**9 + i))


def signature(crash: Crash) -> str:
    """Exception type and the innermost frame: one line per distinct bug."""
    frames = [ln.strip() for ln in crash.trace.splitlines() if ln.strip().startswith("File ")]
    where = frames[-1] if frames else "?"
    return f"{type(crash.error).__name__} at {where}"


def save(out: Path, target: Target, seed: int, i: int, crash: Crash, sig: str) -> Path:
    small = minimize(target, crash.data)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{target.name}-{seed}-{i}.txt"
    try:
        run_one(target, small)
        error = crash
    except Crash as c:
        error = c
    path.write_text(
        f"decoder: {target.name}\nsignature: {sig}\n"
        f"replay: .venv/bin/python bench/fuzz.py --replay {target.name} {i} --seed {seed}\n\n"
        f"minimised input:\n{small!r}\n\noriginal input:\n{crash.data!r}\n\n{error.trace}")
    return path


def run_target(target: Target, n: int, seed: int, out: Path, progress: int) -> Tally:
    tally = Tally(target.name)
    started = time.perf_counter()
    for i in range(n):
        try:
            data = draw(target, seed, i)
        except Exception as e:  # noqa: BLE001 - a bug in the harness, not the decoder: counted, reported
            tally.generator_errors[f"{type(e).__name__}: {e}"[:120]] += 1
            continue
        try:
            label = run_one(target, data)
        except Crash as c:
            sig = signature(c)
            if sig not in tally.crashes:
                tally.saved.append(str(save(out, target, seed, i, c, sig)))
            tally.crashes[sig] += 1
        else:
            kind, _, reason = label.partition(":")
            (tally.rejected if kind == "rejected" else tally.accepted)[reason or kind] += 1
        tally.tried += 1
        if progress and (i + 1) % progress == 0:
            rate = (i + 1) / (time.perf_counter() - started)
            print(f"  {target.name}: {i + 1:,}/{n:,} ({rate:,.0f}/s), crashes {sum(tally.crashes.values())}",
                  file=sys.stderr, flush=True)
    tally.seconds = time.perf_counter() - started
    return tally


def report(t: Tally, top: int) -> None:
    acc, rej, crashes = sum(t.accepted.values()), sum(t.rejected.values()), sum(t.crashes.values())
    print(f"\n{t.name}: {t.tried:,} inputs in {t.seconds:.1f} s ({t.tried / max(t.seconds, 1e-9):,.0f}/s): "
          f"{acc:,} accepted, {rej:,} rejected, {crashes:,} crashes")
    for label, count in t.accepted.most_common(top):
        print(f"    accepted  {count:>8,}  {label}")
    for reason, count in t.rejected.most_common(top):
        print(f"    rejected  {count:>8,}  {reason}")
    if len(t.rejected) > top:
        rest = sum(c for _, c in t.rejected.most_common()[top:])
        print(f"    rejected  {rest:>8,}  ({len(t.rejected) - top} more reason classes)")
    for sig, count in t.crashes.items():
        print(f"    CRASH     {count:>8,}  {sig}")
    for path in t.saved:
        print(f"    reproducer: {path}")
    for error, count in t.generator_errors.items():
        print(f"    GENERATOR {count:>8,}  {error} (a harness bug: these inputs were not tried)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("targets", nargs="*", help="decoders to run (default: all, in sequence)")
    ap.add_argument("-n", type=int, default=100_000, help="inputs per decoder (default 100,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "furrow-fuzz-crashes",
                    help="folder for crash reproducers (default: furrow-fuzz-crashes in the temp folder)")
    ap.add_argument("--progress", type=int, default=10_000, help="progress line every this many inputs (0: none)")
    ap.add_argument("--top", type=int, default=8, help="reason classes listed per decoder")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--list", action="store_true", help="list the decoders and exit")
    ap.add_argument("--replay", nargs=2, metavar=("DECODER", "INDEX"), help="run one input and show the outcome")
    args = ap.parse_args(argv)
    if args.list:
        for t in ALL.values():
            print(f"{t.name:22} {t.describe}")
        return 0
    if args.replay:
        target = ALL[args.replay[0]]
        data = draw(target, args.seed, int(args.replay[1]))
        print(repr(data)[:2000])
        print(run_one(target, data))
        return 0
    unknown = [n for n in args.targets if n not in ALL]
    if unknown:
        ap.error(f"unknown decoder(s) {unknown}; --list shows them")
    print(f"fuzz: {args.n:,} inputs per decoder, seed {args.seed}, python {sys.version.split()[0]}")
    tallies = []
    for name in args.targets or list(ALL):
        tallies.append(run_target(ALL[name], args.n, args.seed, args.out, args.progress))
        report(tallies[-1], args.top)
    total = sum(t.tried for t in tallies)
    crashed = sum(sum(t.crashes.values()) for t in tallies)
    print(f"\ntotal: {total:,} inputs over {len(tallies)} decoders in {sum(t.seconds for t in tallies):.0f} s, "
          f"{crashed:,} crashes")
    figures = [{
        "decoder": t.name, "tried": t.tried, "accepted": sum(t.accepted.values()),
        "rejected": sum(t.rejected.values()), "rejected_by_reason": dict(t.rejected),
        "crashes": dict(t.crashes), "reproducers": t.saved, "generator_errors": dict(t.generator_errors),
        "seconds": round(t.seconds, 1)}
        for t in tallies]
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    seconds = max(1e-9, sum(t.seconds for t in tallies))
    print(json.dumps({"inputs": total, "crashes": crashed, "inputs_s": round(total / seconds),
                      "decoders": {f["decoder"]: {k: f[k] for k in ("tried", "accepted", "rejected", "seconds")}
                                   for f in figures}}))
    return 1 if crashed or any(t.generator_errors for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
