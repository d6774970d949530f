"""`furrow node check NODE`: wait for a node's first readings, then judge them.

The judging is the cloud's commissioning checklist (GET /nodes/{node}/commissioning,
cloud/commissioning.py); this command waits for it to have something to judge, prints each
item with what to do when it fails, and answers with an exit status a script can use:
0 every check passed, 1 a check failed, 2 nothing to judge in time, or the API could not be
used (unreachable, token refused).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from ._api import Api, ApiError, add_api_arguments

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
POLL_S = 1.0
# The checklist items a technician can act on, and what to do when one fails.
HINTS = {
    "registered": "register it: furrow node add {node} --role ROLE --zone ZONE --out DIR (a tracker, at its site: "
                  "furrow node add {node} --role tracker --site SITE --out DIR, which also gives a tracker registered "
                  "without a site its site)",
    "heard": "no reading has reached the cloud lately: is the node powered and in range, are its broker "
             "credentials right (config.json from `furrow node add`; the broker's files from `furrow broker config`), "
             "is its gateway forwarding?",
    "first_good_reading": "it reports, but no sensor gives a value: check the probes' wiring and the faults below",
    "depths": "the probes report other depths than registered: fix depth_cm in the node's config.json, "
              "or register the depths it has (furrow node add {node} ... --depth CM)",
    "plausible": "a value is outside what this soil can hold at that depth: is the probe in firm contact with the "
                 "soil? then calibrate it: furrow node calibrate {node} --depth CM",
    "no_faults": "disconnected: wiring or connector; out_of_range: calibration (furrow node calibrate); "
                 "crc_error/not_ready: the sensor bus; then power-cycle the node",
    "calibrated": "the firmware's default calibration is in use: furrow node calibrate {node} --depth CM",
}
ADVISORY = frozenset({"calibrated"})  # shown, but fails the check only with --require-calibration


def register_check(node_sub: argparse._SubParsersAction) -> None:
    check = node_sub.add_parser(
        "check", help="wait for a node's first readings and judge them (the commissioning checklist)",
        description="Wait up to --wait seconds for NODE's first good reading to reach the cloud, then print the "
        "commissioning checklist (registered, heard, first good reading, depths, values plausible for the depth and "
        "soil, faults, calibration) with what to do for each failed item, and the live values. Exit 0: all good; "
        "1: a check failed; 2: no reading in time, or the API could not be used.")
    check.add_argument("node")
    check.add_argument("--wait", type=float, default=120.0, metavar="SECONDS",
                       help="how long to wait for the first good reading (default 120)")
    check.add_argument("--fresh", action="store_true",
                       help="wait for a reading newer than the newest when the check starts (after a fix or a reboot)")
    check.add_argument("--require-calibration", action="store_true",
                       help="fail when a soil node has no calibration stored (by default it is advice only)")
    add_api_arguments(check)
    check.set_defaults(func=_check)


class Progress:
    """One progress line on stderr: rewritten in place on a terminal, else printed when its
    text changes (or every 10 s), so a log stays short."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last = ("", 0.0)
        self.width = 0

    def show(self, text: str, key: str | None = None) -> None:
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + text.ljust(self.width))
            self.width = len(text)
        elif (key or text) != self.last[0] or now - self.last[1] >= 10:
            self.stream.write(text + "\n")
        else:
            return
        self.last = (key or text, now)
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0


def marks(stream: Any = None) -> tuple[str, str, str, str]:
    """Pass, fail, advice and not-yet-judged marks; plain words where the terminal cannot show ✓ and ✗."""
    encoding = getattr(stream or sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗·…".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "ok  ", "FAIL", "note", "wait"
    return "✓", "✗", "·", "…"


def open_api(args: argparse.Namespace) -> Api | None:
    """The API client, or None after printing why there is none (no token)."""
    try:
        return Api(args)
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def explain(e: ApiError, api: Api, need: str) -> str:
    """An error of the API as the technician should read it: where, and which role it takes."""
    if e.status in (401, 403):
        return f"{e}\n  (this needs {need}'s token for {api.base}: furrow cloud token create --role technician)"
    return str(e)


def newest_ts(view: dict[str, Any] | None, keep: Callable[[dict[str, Any]], bool] = lambda x: True) -> int:
    """The newest reading time in a commissioning view's live values (0 without any)."""
    return max((x["ts_ms"] for x in (view or {}).get("live", []) if keep(x)), default=0)


def waiting_for(view: dict[str, Any] | None) -> str:
    """What the check is still waiting for, in the technician's words."""
    if view is None:
        return "not registered, not heard yet"
    items = {i["name"]: i for i in view["items"]}
    if not view["registered"]:
        head = "not registered"
    else:
        head = "registered (" + items["registered"]["detail"] + ")"
    if view["last_seen_ms"] is None:
        return head + ", not heard yet"
    if not items["heard"]["ok"]:
        return head + ", " + items["heard"]["detail"]
    return head + ", heard, no sensor value yet"


def judge(view: dict[str, Any], require_calibration: bool) -> tuple[bool, list[str]]:
    """Whether every required item passed, and the lines to print. An item the cloud could not
    judge yet (pending: the node was never heard) is marked as waiting, without advice: the
    advice for a silent node is the `heard` item's."""
    ok_mark, fail_mark, note_mark, wait_mark = marks()
    node = view["node"]
    lines = [f"{node}" + (f" via {view['gateway']}" if view.get("gateway") else "") + ":"]
    passed = True
    width = max(len(i["name"]) for i in view["items"])
    for item in view["items"]:
        advisory = item["name"] in ADVISORY and not require_calibration
        pending = item.get("pending", False)
        mark = ok_mark if item["ok"] else wait_mark if pending else note_mark if advisory else fail_mark
        lines.append(f"  {mark} {item['name']:<{width}}  {item['detail']}")
        if not item["ok"]:
            passed = passed and advisory
            hint = None if pending else HINTS.get(item["name"])
            if hint:
                lines.append(f"      -> {hint.format(node=node)}")
    lines += live_lines(view)
    return passed, lines


def live_lines(view: dict[str, Any]) -> list[str]:
    from furrow.edge.measurements import MEASUREMENTS

    live = sorted(view.get("live", []), key=lambda x: (x["measurement"], x["depth_cm"] or 0, x["channel"] or 0))
    if not live:
        return []
    out = ["  live values:"]
    for x in live:
        where = f"{x['depth_cm']} cm" if x["depth_cm"] is not None else (
            f"ch {x['channel']}" if x["channel"] is not None else "")
        unit = MEASUREMENTS.get(x["measurement"], (0, ""))[1]
        value = f"{x['value']:g} {unit}" if x["value"] is not None else f"fault {x['fault']}"
        cal = f"  (calibrated {x['calibrated_vwc_pct']:g} %)" if x.get("calibrated_vwc_pct") is not None else ""
        out.append(f"    {x['measurement']:<14} {where:<7} {value}{cal}")
    return out


def _check(args: argparse.Namespace) -> int:
    api = open_api(args)
    if api is None:
        return EXIT_UNUSABLE
    try:
        return _wait_and_judge(api, args)
    finally:
        api.close()


def _wait_and_judge(api: Api, args: argparse.Namespace) -> int:
    path = f"/nodes/{args.node}/commissioning"
    progress = Progress()
    start = time.monotonic()
    deadline = start + max(0.0, args.wait)
    baseline: int | None = None
    reached = False
    view: dict[str, Any] | None = None
    while True:
        try:
            r = api.call("GET", path, ok=(200, 404))
            reached = True
        except ApiError as e:
            # Unreachable or refused at the first ask: say so now. A service that goes away
            # mid-wait (a restart) gets the rest of the wait.
            if not reached or e.status in (401, 403) or time.monotonic() >= deadline:
                progress.done()
                print(f"error: {explain(e, api, 'a technician')}", file=sys.stderr)
                return EXIT_UNUSABLE
            time.sleep(POLL_S)
            continue
        view = r.json() if r.status_code == 200 else None
        if baseline is None:
            baseline = newest_ts(view) if args.fresh else 0
        if view is not None and _ready_to_judge(view, baseline):
            break
        elapsed = time.monotonic() - start
        if elapsed >= args.wait:
            progress.done()
            return _timed_out(api, args, view)
        what = "a reading newer than the last one" if args.fresh and baseline else "the first good reading"
        progress.show(f"waiting for {what} of {args.node}: {elapsed:.0f}/{args.wait:g} s; {waiting_for(view)}",
                      key=waiting_for(view))
        time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
    progress.done()
    passed, lines = judge(view, args.require_calibration)
    print("\n".join(lines))
    print(f"{args.node}: " + ("ready" if passed else "a check failed (see -> above)"))
    return EXIT_OK if passed else EXIT_FAILED


def _ready_to_judge(view: dict[str, Any], baseline: int) -> bool:
    items = {i["name"]: i["ok"] for i in view["items"]}
    return bool(items.get("heard") and view["first_good_reading"] and newest_ts(view) > baseline)


def _timed_out(api: Api, args: argparse.Namespace, view: dict[str, Any] | None) -> int:
    print(f"error: no good reading from {args.node} reached {api.base} within {args.wait:g} s "
          f"({waiting_for(view)})", file=sys.stderr)
    if view is None:
        print(f"  -> the cloud has neither registered nor heard {args.node}: check the name, or "
              f"{HINTS['registered'].format(node=args.node)}", file=sys.stderr)
        print(f"  -> if it is registered elsewhere: {HINTS['heard']}", file=sys.stderr)
    else:
        print("\n".join(judge(view, args.require_calibration)[1]), file=sys.stderr)
    return EXIT_UNUSABLE
