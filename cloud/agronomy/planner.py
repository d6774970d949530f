"""Irrigation planner: per zone, whether and how much to water, and when.

`plan_zone(zone, state, weather, forecast, now)` is pure. It returns a Decision
carrying its inputs, the rule that decided it, every adjustment made on the way,
a sentence for a person, and the run(s) to command as typed `PlannedRun`s (node,
valve, duration, not-before, expiry, max runtime). The cloud stores the Decision
and hands each run to the command lifecycle (CommandService.create_run).

Rules, in the order they are checked:

    override-hold           an agronomist froze the zone: nothing is issued
    override-skip           an agronomist skipped the zone until a time
    override-water-now      an agronomist asked for water now (amount or a refill)
    already-irrigating      depletion reached MAD, but the irrigation the balance does not count yet
                            (in flight, or run since its cut-off) brings it back under MAD: skip
    below-mad               the depletion the zone will reach before water can next reach it, if this
                            night's window is skipped, stays under MAD x TAW
    rain-forecast           expected rain covers the need: only what keeps the zone within MAD until the
                            next chance to water is applied, should the rain not fall (skip if that is 0)
    shrunk-for-forecast     (adjustment) expected rain covers part of it (never below that floor)
    budget-exhausted        the weekly or seasonal budget is spent: skip
    budget-limited          (adjustment) the amount is cut to what the budget allows
    below-minimum           what is left to apply is under the minimum application
    split-at-max-runtime    (adjustment) a run longer than the valve's maximum becomes several
    capped-at-max-runtime   (adjustment) more than max_runs runs: cut to max_runs x the maximum
    group-busy              (timing) another zone of the hydraulic group is running
    deferred-to-window      (timing) outside the night window: wait for it
    urgent-outside-window   (timing) depletion ≥ urgent fraction x TAW: water now anyway
    mad-reached             irrigate: refill to the target

When to water (FAO-56 ch. 8, "Irrigation scheduling"): the crop is unstressed while the root-zone
depletion Dr stays at or below RAW = p x TAW (eq. 83), so water must reach the zone before Dr passes
it. The balance's depletion is that at its cut-off (the end of the last complete day); the crop goes
on using water at its ETc until the water arrives. So, with the crop's ETc known, the planner adds
its use from the cut-off to the start of the night window after this one (the next chance to water
if this one is skipped) and waters when that depletion reaches MAD; it refills the depletion the
zone will have when this night's run starts. MAD defaults to p adjusted for the day's ETc, p =
p_table + 0.04 (5 - ETc) (FAO-56 table 22, footnote): on a hot day the crop stresses at a smaller
depletion. Without ETc (no weather: the probes alone) the depletion is taken as it stands and MAD
is p_table.

A forecast is a bet on rain that may not fall, so it may trim a run but never below what the zone needs
to reach the next chance to water no drier than MAD (its `depletion_now_mm` less MAD, at least the
minimum application): if the rain fails, the zone is no worse off than on any night the planner
waits, and the next plan catches up from the measured balance. That plan names the forecast that
failed (`ZoneState.forecast_missed`, message `decision.forecast-missed`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from enum import StrEnum

from .messages import Message, Texts, join
from .water_balance import depletion_fraction
from .zone import ZoneConfig

# The English of each decision's explanation, a rule's sentence then its adjustments' (joined
# with "; "); the dashboard's catalogues translate the same keys.
TEXT = Texts({
    "decision.an-agronomist": "an agronomist",
    "decision.override-hold": "held by {by}: nothing is issued",
    "decision.override-skip": "skipped by {by}",
    "decision.override-skip-until": "skipped by {by} until {until:%Y-%m-%d %H:%M}",
    "decision.override-water-now": "water now asked by {by}: {net_mm:.1f} mm net",
    "decision.already-irrigating": "depletion {before_mm:.1f} mm reached MAD {mad_mm:.1f} mm, but {pending_mm:.1f} mm "
                                   "of irrigation in flight or run since the balance leaves {depletion_mm:.1f} mm",
    "decision.below-mad": "depletion {depletion_mm:.1f} mm is below MAD {mad_mm:.1f} mm ({mad_pct:.0f}% of TAW "
                          "{taw_mm:.1f} mm)",
    "decision.mad-reached": "depletion {depletion_mm:.1f} mm reached MAD {mad_mm:.1f} mm: refill {net_mm:.1f} mm to "
                            "{target_mm:.1f} mm",
    "decision.mad-reached-pending": "depletion {depletion_mm:.1f} mm reached MAD {mad_mm:.1f} mm: refill "
                                    "{net_mm:.1f} mm to {target_mm:.1f} mm ({pending_mm:.1f} mm of irrigation in "
                                    "flight or run since the balance deducted)",
    "decision.rain-forecast": "{expected_mm:.1f} mm of rain expected within {horizon_h} h ({source}) covers the "
                              "{net_mm:.1f} mm needed",
    "decision.shrunk-for-forecast": "{expected_mm:.1f} mm expected rain deducted, {net_mm:.1f} mm left",
    "decision.rain-forecast-kept": "{expected_mm:.1f} mm of rain expected within {horizon_h} h ({source}) covers "
                                   "the {need_mm:.1f} mm needed; {net_mm:.1f} mm is applied so that the zone reaches "
                                   "the next chance to water at {next_at:%Y-%m-%d %H:%M} within MAD if it does not "
                                   "fall",
    "decision.shrunk-for-forecast-kept": "{expected_mm:.1f} mm expected rain deducted, but {net_mm:.1f} mm is kept "
                                         "so that the zone reaches the next chance to water at "
                                         "{next_at:%Y-%m-%d %H:%M} within MAD if it does not fall",
    "decision.forecast-missed": "the {expected_mm:.1f} mm of rain the plan of {since:%Y-%m-%d %H:%M} expected "
                                "({source}) has not fallen: {fell_mm:.1f} mm measured since, and the balance counts "
                                "only what fell",
    "decision.budget-exhausted": "the water budget is spent",
    "decision.budget-limited": "cut to the {left_mm:.1f} mm left in the budget",
    "decision.within-budget": "within the budget ({left_mm:.1f} mm gross left)",
    "decision.below-minimum": "{net_mm:.1f} mm is under the minimum application of {min_mm:.1f} mm",
    "decision.capped-at-max-runtime": "capped at {runs} run(s) of the valve maximum {max_runtime_s} s "
                                      "({net_mm:.1f} mm net)",
    "decision.split-at-max-runtime": "split into {runs} runs of at most {max_runtime_s} s (the valve maximum), "
                                     "{gap_min} min apart",
    "decision.group-busy": "group {group} busy until {until:%H:%M}",
    "decision.urgent-outside-window": "urgent ({depletion_pct:.0f}% of TAW): not waiting for the night window",
    "decision.deferred-to-window": "deferred to the night window at {at:%Y-%m-%d %H:%M}",
    "decision.crop-use-ahead": "{ahead_mm:.1f} mm of crop water use counted ({etc_mm:.1f} mm/day) from the balance "
                               "to the next chance to water at {next_at:%Y-%m-%d %H:%M}",
    "decision.group-sequenced": "after the zone before it in group {group}, at {at:%H:%M}",
})


class Action(StrEnum):
    IRRIGATE = "irrigate"
    SKIP = "skip"
    HOLD = "hold"


class OverrideKind(StrEnum):
    SKIP = "skip"
    HOLD = "hold"
    WATER_NOW = "water-now"


@dataclass(frozen=True)
class Override:
    """An agronomist's override of a zone, in force until `until` (None: until removed)."""

    kind: OverrideKind
    until: datetime | None = None
    amount_mm: float | None = None
    """For water-now: net millimetres; None refills to the target."""
    by: str = ""
    reason: str = ""

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True)
class MissedRain:
    """Rain an earlier plan counted on from a forecast, against the rain the gauge measured over its window."""

    expected_mm: float
    fell_mm: float
    since: datetime
    """When that plan was made (an aware datetime)."""
    source: str = "forecast"


@dataclass(frozen=True)
class ZoneState:
    """What the cloud knows about the zone right now."""

    depletion_mm: float
    """Root-zone depletion from the (probe-corrected) water balance."""
    taw_mm: float
    week_used_mm: float = 0.0
    season_used_mm: float = 0.0
    override: Override | None = None
    group_busy_until: datetime | None = None
    """When another zone of the same hydraulic group finishes, if one is running."""
    irrigation_since_balance_mm: float = 0.0
    """Net mm (gross x efficiency) of the zone's own runs that the depletion does not count yet:
    in flight, or run since the balance's cut-off. Deducted like rain, so a refill on its way
    across midnight is not ordered twice."""
    etc_mm_day: float | None = None
    """The crop's water use per day now (ETc adj of the balance's newest day); None when the zone
    has no ET0 (the probes alone)."""
    depletion_at: datetime | None = None
    """When `depletion_mm` held: the balance's cut-off (None: now)."""
    forecast_missed: MissedRain | None = None
    """The forecast rain the zone's last plan counted on, when less fell (None: none counted, or it fell)."""


@dataclass(frozen=True)
class WeatherNow:
    """Weather measured since the balance's depletion was computed."""

    rain_since_balance_mm: float = 0.0


@dataclass(frozen=True)
class Forecast:
    """Rain expected over the planning horizon, from any pluggable source."""

    rain_mm: float
    probability: float = 1.0
    horizon_h: int = 24
    source: str = "forecast"

    @property
    def expected_mm(self) -> float:
        return self.rain_mm * self.probability


@dataclass(frozen=True)
class PlannedRun:
    """One valve run the planner wants: open `valve` of `node` for `duration`, starting no
    earlier than `not_before` and no later than `expires`; the controller cuts it off at
    `max_runtime` whatever happens upstream. Times are aware datetimes."""

    node: str
    valve: int
    duration: timedelta
    not_before: datetime
    expires: datetime
    max_runtime: timedelta

    def shifted(self, by: timedelta) -> PlannedRun:
        """The same run, its window moved by `by`."""
        return replace(self, not_before=self.not_before + by, expires=self.expires + by)

    @property
    def ends(self) -> datetime:
        """When the run ends if it starts at its not-before."""
        return self.not_before + self.duration

    def to_record(self) -> dict[str, object]:
        """JSON-ready, in the fields of POST /api/v1/commands (a decision's stored `commands`)."""
        return {"node": self.node, "valve": self.valve, "action": "open",
                "duration_s": int(self.duration.total_seconds()), "not_before": self.not_before.isoformat(),
                "ttl_s": int((self.expires - self.not_before).total_seconds()),
                "max_runtime_s": int(self.max_runtime.total_seconds())}


@dataclass(frozen=True)
class Decision:
    """One decision for one zone, explained: `explanation` is the English of `messages` (the
    rule's sentence, then each adjustment's), which carry their catalogue keys and values."""

    zone: str
    action: Action
    rule: str
    explanation: str
    inputs: dict[str, object]
    adjustments: tuple[str, ...] = ()
    net_mm: float = 0.0
    gross_mm: float = 0.0
    runtime_s: int = 0
    not_before: datetime | None = None
    hydraulic_group: str = ""
    runs: tuple[PlannedRun, ...] = field(default=())
    """What to command: each run goes to the command lifecycle as one command."""
    messages: tuple[Message, ...] = ()

    def to_record(self) -> dict[str, object]:
        """The decision as JSON-ready plain data, for storage and the API."""
        return {"zone": self.zone, "action": str(self.action), "rule": self.rule, "explanation": self.explanation,
                "adjustments": list(self.adjustments), "net_mm": self.net_mm, "gross_mm": self.gross_mm,
                "runtime_s": self.runtime_s, "not_before": self.not_before.isoformat() if self.not_before else None,
                "hydraulic_group": self.hydraulic_group, "inputs": dict(self.inputs),
                "commands": [r.to_record() for r in self.runs], "messages": [m.record() for m in self.messages]}


def in_window(t: time, start: time, end: time) -> bool:
    """Whether local time t is inside [start, end), a window that may wrap midnight."""
    if start == end:
        return True
    if start < end:
        return start <= t < end
    return t >= start or t < end


def next_window_start(now: datetime, start: time) -> datetime:
    """The next local time `start` at or after now."""
    candidate = now.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    return candidate if candidate >= now else candidate + timedelta(days=1)


def window_end_after(begin: datetime, start: time, end: time) -> datetime:
    """The end of the window that contains `begin`."""
    candidate = begin.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return candidate if candidate > begin else candidate + timedelta(days=1)


def chances(now: datetime, start: time, end: time) -> tuple[datetime, datetime]:
    """When water can next reach the zone: this night's window (now, inside it) and the one after."""
    this = now if in_window(now.time(), start, end) else next_window_start(now, start)
    return this, next_window_start(this + timedelta(seconds=1), start)


def crop_use_mm(state: ZoneState, until: datetime, now: datetime) -> float:
    """The crop's water use from the depletion's time to `until`, at its current ETc (0 without ETc)."""
    if state.etc_mm_day is None:
        return 0.0
    since = state.depletion_at or now
    return max(0.0, state.etc_mm_day * (until - since).total_seconds() / 86_400.0)


def _run(zone: ZoneConfig, runtime_s: int, not_before: datetime, ttl_s: int) -> PlannedRun:
    # the controller's own cut-off: a margin over the planned runtime, never past the valve's maximum
    safety = min(zone.irrigation.max_runtime_s, runtime_s + max(60, runtime_s // 10))
    return PlannedRun(node=zone.irrigation.node, valve=zone.irrigation.valve, duration=timedelta(seconds=runtime_s),
                      not_before=not_before, expires=not_before + timedelta(seconds=ttl_s),
                      max_runtime=timedelta(seconds=safety))


def plan_zone(zone: ZoneConfig, state: ZoneState, weather: WeatherNow | None, forecast: Forecast | None,
              now: datetime) -> Decision:
    """Decide for one zone at `now` (an aware local time). See the module docstring."""
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    irr = zone.irrigation
    taw = state.taw_mm
    etc = state.etc_mm_day
    p = depletion_fraction(zone.crop.p, etc) if etc is not None else zone.crop.p  # FAO-56 table 22, footnote
    mad = irr.mad_fraction if irr.mad_fraction is not None else p
    rain_since = weather.rain_since_balance_mm if weather is not None else 0.0
    pending = max(0.0, state.irrigation_since_balance_mm)
    this_chance, next_chance = chances(now, irr.window_start, irr.window_end)
    ahead = crop_use_mm(state, next_chance, now)  # skip this night and the crop uses this much first
    before_irrigation = max(0.0, state.depletion_mm - rain_since) + ahead
    depletion = max(0.0, before_irrigation - pending)
    # what the zone lacks when this night's run starts: the refill
    at_run = max(0.0, state.depletion_mm - rain_since - pending + crop_use_mm(state, this_chance, now))
    target = irr.refill_fraction * taw
    inputs: dict[str, object] = {
        "now": now.isoformat(), "depletion_mm": round(state.depletion_mm, 2), "rain_since_balance_mm": rain_since,
        "irrigation_since_balance_mm": round(pending, 2),
        "depletion_at": state.depletion_at.isoformat() if state.depletion_at else None,
        "etc_mm_day": None if etc is None else round(etc, 2), "p": round(p, 3),
        "next_chance": next_chance.isoformat(), "crop_use_ahead_mm": round(ahead, 2),
        "depletion_now_mm": round(depletion, 2), "depletion_at_run_mm": round(at_run, 2),
        "taw_mm": round(taw, 2), "mad_fraction": round(mad, 3),
        "mad_mm": round(mad * taw, 2), "refill_to_mm": round(target, 2),
        "forecast": None if forecast is None else {"rain_mm": forecast.rain_mm, "probability": forecast.probability,
                                                   "horizon_h": forecast.horizon_h, "source": forecast.source},
        "forecast_missed": None if state.forecast_missed is None else {
            "expected_mm": round(state.forecast_missed.expected_mm, 2),
            "fell_mm": round(state.forecast_missed.fell_mm, 2), "since": state.forecast_missed.since.isoformat(),
            "source": state.forecast_missed.source},
        "week_used_mm": state.week_used_mm, "season_used_mm": state.season_used_mm,
        "week_budget_mm": irr.week_budget_mm, "season_budget_mm": irr.season_budget_mm,
        "precipitation_rate_mm_h": irr.precipitation_rate_mm_h, "efficiency": irr.efficiency,
        "max_runtime_s": irr.max_runtime_s, "window": f"{irr.window_start:%H:%M}-{irr.window_end:%H:%M}",
        "hydraulic_group": irr.hydraulic_group,
        "group_busy_until": state.group_busy_until.isoformat() if state.group_busy_until else None,
        "override": None if state.override is None else {"kind": str(state.override.kind), "by": state.override.by,
                                                        "until": state.override.until.isoformat()
                                                        if state.override.until else None,
                                                        "amount_mm": state.override.amount_mm,
                                                        "reason": state.override.reason},
    }

    missed = state.forecast_missed
    note = (TEXT("decision.forecast-missed", expected_mm=round(missed.expected_mm, 1), since=missed.since,
                 source=missed.source, fell_mm=round(missed.fell_mm, 1)),) if missed is not None else ()

    def no(action: Action, rule: str, *why: Message, adjustments: tuple[str, ...] = ()) -> Decision:
        why = (*why, *note)
        return Decision(zone=zone.id, action=action, rule=rule, explanation=join(why), inputs=inputs,
                        adjustments=adjustments, hydraulic_group=irr.hydraulic_group, messages=why)

    override = state.override if state.override is not None and state.override.active(now) else None
    by = (override.by or TEXT("decision.an-agronomist")) if override is not None else ""
    if override is not None and override.kind is OverrideKind.HOLD:
        return no(Action.HOLD, "override-hold", TEXT("decision.override-hold", by=by))
    if override is not None and override.kind is OverrideKind.SKIP:
        return no(Action.SKIP, "override-skip", TEXT("decision.override-skip-until", by=by, until=override.until)
                  if override.until else TEXT("decision.override-skip", by=by))

    adjustments: list[str] = []
    why: list[Message] = []
    mad_mm = round(mad * taw, 1)
    water_now = override is not None and override.kind is OverrideKind.WATER_NOW
    use = [TEXT("decision.crop-use-ahead", ahead_mm=round(ahead, 1), etc_mm=round(etc, 1), next_at=next_chance)
           ] if etc is not None and ahead > 0 else []
    if water_now:
        assert override is not None
        rule = "override-water-now"
        net = override.amount_mm if override.amount_mm is not None else max(0.0, at_run - target)
        why.append(TEXT("decision.override-water-now", by=by, net_mm=round(net, 1)))
    else:
        if depletion < mad * taw and before_irrigation >= mad * taw:
            return no(Action.SKIP, "already-irrigating", TEXT(
                "decision.already-irrigating", before_mm=round(before_irrigation, 1), mad_mm=mad_mm,
                pending_mm=round(pending, 1), depletion_mm=round(depletion, 1)), *use)
        if depletion < mad * taw:
            return no(Action.SKIP, "below-mad", TEXT("decision.below-mad", depletion_mm=round(depletion, 1),
                                                     mad_mm=mad_mm, mad_pct=round(100 * mad), taw_mm=round(taw, 1)),
                      *use)
        rule = "mad-reached"
        net = max(0.0, at_run - target)
        reached = {"depletion_mm": round(depletion, 1), "mad_mm": mad_mm, "net_mm": round(net, 1),
                   "target_mm": round(target, 1)}
        why.append(TEXT("decision.mad-reached-pending", pending_mm=round(pending, 1), **reached) if pending > 0
                   else TEXT("decision.mad-reached", **reached))
        why += use
        if forecast is not None and forecast.expected_mm >= irr.rain_skip_mm:
            expected = forecast.expected_mm
            # should the rain not fall: what takes the zone to the next chance to water no drier than MAD
            floor = max(0.0, depletion - mad * taw)
            if floor > 0.0:
                floor = max(floor, irr.min_application_mm)
            if expected >= net and floor <= 0.0:
                return no(Action.SKIP, "rain-forecast", TEXT(
                    "decision.rain-forecast", expected_mm=round(expected, 1), horizon_h=forecast.horizon_h,
                    source=forecast.source, net_mm=round(net, 1)))
            if expected >= net:
                rule = "rain-forecast"
                why.append(TEXT("decision.rain-forecast-kept", expected_mm=round(expected, 1),
                                horizon_h=forecast.horizon_h, source=forecast.source, need_mm=round(net, 1),
                                net_mm=round(floor, 1), next_at=next_chance))
                net = floor
            elif net - expected < floor:
                net = floor
                adjustments.append("shrunk-for-forecast")
                why.append(TEXT("decision.shrunk-for-forecast-kept", expected_mm=round(expected, 1),
                                net_mm=round(net, 1), next_at=next_chance))
            else:
                net -= expected
                adjustments.append("shrunk-for-forecast")
                why.append(TEXT("decision.shrunk-for-forecast", expected_mm=round(expected, 1),
                                net_mm=round(net, 1)))
    gross = net / irr.efficiency
    if not water_now:
        remaining = [b - u for b, u in ((irr.week_budget_mm, state.week_used_mm),
                                        (irr.season_budget_mm, state.season_used_mm)) if b is not None]
        if remaining:
            left = max(0.0, min(remaining))
            if left <= 0.0:
                return no(Action.SKIP, "budget-exhausted", TEXT("decision.budget-exhausted"), *why,
                          adjustments=tuple(adjustments))
            if gross > left:
                gross = left
                net = gross * irr.efficiency
                adjustments.append("budget-limited")
                why.append(TEXT("decision.budget-limited", left_mm=round(left, 1)))
            else:
                why.append(TEXT("decision.within-budget", left_mm=round(left, 1)))
    if net < irr.min_application_mm:
        return no(Action.SKIP, "below-minimum", TEXT("decision.below-minimum", net_mm=round(net, 1),
                                                     min_mm=round(irr.min_application_mm, 1)), *why,
                  adjustments=tuple(adjustments))
    runtime_s = math.ceil(gross / irr.precipitation_rate_mm_h * 3600.0)
    runs = 1
    if runtime_s > irr.max_runtime_s:
        runs = math.ceil(runtime_s / irr.max_runtime_s)
        if runs > irr.max_runs:
            runs = irr.max_runs
            runtime_s = runs * irr.max_runtime_s
            gross = runtime_s / 3600.0 * irr.precipitation_rate_mm_h
            net = gross * irr.efficiency
            adjustments.append("capped-at-max-runtime")
            why.append(TEXT("decision.capped-at-max-runtime", runs=runs, max_runtime_s=irr.max_runtime_s,
                            net_mm=round(net, 1)))
        else:
            adjustments.append("split-at-max-runtime")
            why.append(TEXT("decision.split-at-max-runtime", runs=runs, max_runtime_s=irr.max_runtime_s,
                            gap_min=irr.split_gap_s // 60))

    start = now
    if state.group_busy_until is not None and state.group_busy_until > start:
        start = state.group_busy_until
        adjustments.append("group-busy")
        why.append(TEXT("decision.group-busy", group=irr.hydraulic_group, until=start))
    at_now = max(0.0, state.depletion_mm - rain_since - pending + crop_use_mm(state, now, now))
    urgent = at_now >= irr.urgent_fraction * taw
    if not water_now and not in_window(start.time(), irr.window_start, irr.window_end):
        if urgent:
            adjustments.append("urgent-outside-window")
            why.append(TEXT("decision.urgent-outside-window", depletion_pct=round(100 * at_now / taw)))
        else:
            start = next_window_start(start, irr.window_start)
            adjustments.append("deferred-to-window")
            why.append(TEXT("decision.deferred-to-window", at=start))
    planned = []
    run_start = start
    window_end = window_end_after(start, irr.window_start, irr.window_end)
    for k in range(runs):
        # equal runs that add up to the whole runtime, each within the valve's maximum
        run_s = runtime_s // runs + (1 if k < runtime_s % runs else 0)
        if water_now or urgent:
            ttl_s = 3600 + run_s
        else:
            ttl_s = max(600, int((window_end - run_start).total_seconds()))
        planned.append(_run(zone, run_s, run_start, ttl_s))
        run_start = run_start + timedelta(seconds=run_s + irr.split_gap_s)
    why += note
    return Decision(zone=zone.id, action=Action.IRRIGATE, rule=rule, explanation=join(why), inputs=inputs,
                    adjustments=tuple(adjustments), net_mm=round(net, 2), gross_mm=round(gross, 2),
                    runtime_s=runtime_s, not_before=start,
                    hydraulic_group=irr.hydraulic_group, runs=tuple(planned), messages=tuple(why))


def _busy_until(d: Decision) -> datetime:
    """When the last run of an irrigate decision ends (split runs included)."""
    assert d.not_before is not None
    return max((r.ends for r in d.runs), default=d.not_before + timedelta(seconds=d.runtime_s))


def schedule_groups(decisions: Sequence[Decision], gap: timedelta = timedelta(minutes=1)) -> list[Decision]:
    """One zone at a time per hydraulic group: irrigations of a group run one after
    the other, the driest zone (largest depletion share of TAW) first; each shifted
    decision records the adjustment "group-sequenced". Other decisions pass through."""
    out = list(decisions)
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(out):
        if d.action is Action.IRRIGATE and d.not_before is not None:
            groups.setdefault(d.hydraulic_group, []).append(i)

    def dryness(i: int) -> float:
        inp = out[i].inputs
        taw = float(inp.get("taw_mm") or 1.0)  # type: ignore[arg-type]
        return float(inp.get("depletion_now_mm") or 0.0) / taw  # type: ignore[arg-type]

    for idxs in groups.values():
        idxs.sort(key=lambda i: (out[i].not_before, -dryness(i)))
        free_at: datetime | None = None
        for i in idxs:
            d = out[i]
            assert d.not_before is not None
            if free_at is not None and d.not_before < free_at:
                start = free_at
                shift = start - d.not_before
                then = TEXT("decision.group-sequenced", group=d.hydraulic_group, at=start)
                d = replace(d, not_before=start, runs=tuple(r.shifted(shift) for r in d.runs),
                            adjustments=(*d.adjustments, "group-sequenced"),
                            explanation=f"{d.explanation}; {then.text}", messages=(*d.messages, then))
                out[i] = d
            assert d.not_before is not None
            free_at = _busy_until(d) + gap
    return out
