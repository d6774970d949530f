"""Dispatch: which machine does which field operation, in what order, so that all of them are done soonest.

Pure functions: machines and tasks in, a plan out (who, in what order, when each starts and ends).

* **Work time.** A machine's effective field capacity is ``C = S * w * E / 10`` ha/h with S its working
  speed in km/h, w the implement's working width in m and E the field efficiency (the share of time in the
  field spent working: turns, filling and overlap take the rest): ASABE EP496.3 (2015), *Agricultural
  Machinery Management*, section 4.1.1, with typical E in ASABE D497.7 (2011) Table 3 (0.65-0.85 for a
  grain drill, 0.55-0.80 for a boom sprayer, 0.65-0.80 for a combine). A 6 m drill at 8 km/h with
  E = 0.70 does 3.36 ha/h, so 10 ha take 2.98 h. A task's work time is the area left to do over C.
* **Travel.** Between two fields (or from where a machine stands) the great-circle distance on the WGS 84
  ellipsoid (pyproj Geod) over the machine's road speed, times ROAD_DETOUR (roads are not straight lines).
* **Goal.** The plan minimises the makespan: when the last machine finishes (the farm's whole job done),
  then the total time. Only a machine that carries a task's implement may do it; a task no available
  machine can do is left out, named.
* **Solvers.** OR-Tools' routing solver (a vehicle routing problem: machines are vehicles starting where
  they stand, tasks are visits whose service time depends on the machine; the time dimension's global
  span is the makespan), with a greedy fallback: tasks by deadline, then priority, then size, each to the
  machine that would finish it first. OR-Tools starts from the greedy plan's order and keeps a plan only
  if it is no worse, so "ortools" is never behind "greedy"; without OR-Tools installed, greedy is used.

A machine that breaks down is re-planned around by planning again without it (``available=False``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyproj import Geod

from furrow.edge.errors import ContractError

ROAD_DETOUR = 1.3  # road distance over straight-line distance between fields of one farm (an assumption)
_GEOD = Geod(ellps="WGS84")
_SCALE = 60  # the routing solver works in whole seconds


@dataclass(frozen=True)
class Machine:
    """A machine that can be dispatched: what it carries and how fast it works and travels."""

    id: str
    implements: tuple[str, ...]
    width_m: float  # working width of its implement, m
    speed_kmh: float  # working speed
    efficiency: float = 0.7  # field efficiency E (ASABE D497.7 Table 3)
    road_kmh: float = 20.0
    lon: float = 0.0
    lat: float = 0.0
    available: bool = True

    @property
    def capacity_ha_h(self) -> float:
        """Effective field capacity C = S w E / 10 (ASABE EP496.3 section 4.1.1)."""
        return self.speed_kmh * self.width_m * self.efficiency / 10


@dataclass(frozen=True)
class Task:
    """A field operation to do: where, how much is left, what implement, by when and how urgent."""

    id: str
    field: str
    area_ha: float
    implement: str
    lon: float
    lat: float
    deadline_h: float | None = None  # hours from now
    priority: int = 3  # 1 (most urgent) .. 5


@dataclass(frozen=True)
class Stop:
    """One task in a machine's plan: travel to it, then work it (hours from now)."""

    task: str
    field: str
    travel_h: float
    start_h: float
    end_h: float
    late: bool


@dataclass
class Plan:
    solver: str
    makespan_h: float
    routes: dict[str, list[Stop]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)  # task -> why no machine can do it


def capacity_ha_h(speed_kmh: float, width_m: float, efficiency: float) -> float:
    """Effective field capacity, ha/h (ASABE EP496.3 section 4.1.1: C = S w E / 10)."""
    return speed_kmh * width_m * efficiency / 10


def travel_h(lon1: float, lat1: float, lon2: float, lat2: float, road_kmh: float) -> float:
    """Hours on the road between two points: the geodesic distance times ROAD_DETOUR at `road_kmh`."""
    if (lon1, lat1) == (lon2, lat2):
        return 0.0
    _, _, metres = _GEOD.inv(lon1, lat1, lon2, lat2)
    return metres * ROAD_DETOUR / 1000 / road_kmh


def _check(machines: Sequence[Machine], tasks: Sequence[Task]) -> None:
    for i, m in enumerate(machines):
        if not (m.width_m > 0 and m.speed_kmh > 0 and 0 < m.efficiency <= 1 and m.road_kmh > 0):
            raise ContractError(f"machines.{i}", m.id, "needs width_m, speed_kmh, road_kmh above 0 and efficiency 0..1")
    for i, t in enumerate(tasks):
        if not t.area_ha >= 0:
            raise ContractError(f"tasks.{i}.area_ha", t.area_ha, "must be 0 or more hectares")


def _route_times(m: Machine, order: Sequence[Task]) -> list[Stop]:
    stops: list[Stop] = []
    at, now = (m.lon, m.lat), 0.0
    for t in order:
        go = travel_h(*at, t.lon, t.lat, m.road_kmh)
        start = now + go
        end = start + t.area_ha / m.capacity_ha_h
        stops.append(Stop(t.id, t.field, go, start, end, t.deadline_h is not None and end > t.deadline_h + 1e-9))
        at, now = (t.lon, t.lat), end
    return stops


def _finish(routes: dict[str, list[Stop]]) -> float:
    return max((r[-1].end_h for r in routes.values() if r), default=0.0)


def _total(routes: dict[str, list[Stop]]) -> float:
    return sum(r[-1].end_h for r in routes.values() if r)


def _doable(machines: Sequence[Machine], tasks: Sequence[Task]) -> tuple[list[Machine], list[Task], dict[str, str]]:
    ready = [m for m in machines if m.available]
    ok, left_out = [], {}
    for t in tasks:
        if any(t.implement in m.implements for m in ready):
            ok.append(t)
        else:
            left_out[t.id] = f"no available machine carries {t.implement!r}"
    return ready, ok, left_out


def greedy(machines: Sequence[Machine], tasks: Sequence[Task]) -> Plan:
    """The fallback: tasks by deadline, priority, then the largest first; each to the machine that finishes
    it soonest (its free time, plus travel from where its last task ended, plus the work)."""
    _check(machines, tasks)
    ready, ok, left_out = _doable(machines, tasks)
    orders: dict[str, list[Task]] = {m.id: [] for m in ready}
    for t in sorted(ok, key=lambda t: (math.inf if t.deadline_h is None else t.deadline_h, t.priority, -t.area_ha)):
        best = min((m for m in ready if t.implement in m.implements),
                   key=lambda m: _route_times(m, orders[m.id] + [t])[-1].end_h)
        orders[best.id].append(t)
    routes = {m.id: _route_times(m, orders[m.id]) for m in ready}
    return Plan("greedy", _finish(routes), routes, left_out)


def _ortools(ready: list[Machine], ok: list[Task], start: Plan, time_limit_s: float) -> Plan | None:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n_m = len(ready)
    # nodes: one start per machine, then the tasks, then one shared end (no cost to reach)
    points = [(m.lon, m.lat) for m in ready] + [(t.lon, t.lat) for t in ok]
    end_node = len(points)
    manager = pywrapcp.RoutingIndexManager(end_node + 1, n_m, list(range(n_m)), [end_node] * n_m)
    routing = pywrapcp.RoutingModel(manager)

    def transit_of(m: Machine):  # noqa: ANN202 - the solver's callback
        def transit(i: int, j: int) -> int:
            a, b = manager.IndexToNode(i), manager.IndexToNode(j)
            work = ok[a - n_m].area_ha / m.capacity_ha_h if n_m <= a < end_node else 0.0
            # the solver asks of any pair, the end's too; an exception here would read as 0 in the solver
            go = 0.0 if end_node in (a, b) else travel_h(*points[a], *points[b], m.road_kmh)
            return round((work + go) * 3600 / _SCALE)

        return transit

    keep = [transit_of(m) for m in ready]  # the solver holds no reference to a Python callback: this list does
    callbacks = [routing.RegisterTransitCallback(f) for f in keep]
    for v, cb in enumerate(callbacks):
        routing.SetArcCostEvaluatorOfVehicle(cb, v)
    horizon = round((start.makespan_h * 4 + 24) * 3600 / _SCALE)
    routing.AddDimensionWithVehicleTransits(callbacks, 0, horizon, True, "time")
    routing.GetDimensionOrDie("time").SetGlobalSpanCostCoefficient(1000)  # the makespan first
    for k, t in enumerate(ok):
        allowed = [v for v, m in enumerate(ready) if t.implement in m.implements]
        # (SetAllowedVehiclesForIndex's list does not cross the 9.15 Python binding; the vehicle variable does)
        routing.VehicleVar(manager.NodeToIndex(n_m + k)).SetValues([-1, *allowed])
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    index_of = {t.id: n_m + k for k, t in enumerate(ok)}
    initial = [[manager.NodeToIndex(index_of[s.task]) for s in start.routes[m.id]] for m in ready]
    routing.CloseModelWithParameters(params)
    first = routing.ReadAssignmentFromRoutes(initial, True)
    if first is not None:
        solution = routing.SolveFromAssignmentWithParameters(first, params)
    else:
        solution = routing.SolveWithParameters(params)
    if solution is None:
        return None
    routes = {}
    for v, m in enumerate(ready):
        order, i = [], routing.Start(v)
        while not routing.IsEnd(i):
            node = manager.IndexToNode(i)
            if node >= n_m:
                order.append(ok[node - n_m])
            i = solution.Value(routing.NextVar(i))
        routes[m.id] = _route_times(m, order)
    return Plan("ortools", _finish(routes), routes, dict(start.left_out))


def plan(machines: Sequence[Machine], tasks: Sequence[Task], solver: str = "auto", time_limit_s: float = 2.0) -> Plan:
    """The dispatch plan (module docstring): `solver` "greedy", or "auto" for OR-Tools when installed, kept
    only where it is no worse than greedy (makespan, then total time)."""
    if solver not in ("auto", "greedy"):
        raise ContractError("solver", solver, "must be auto or greedy")
    start = greedy(machines, tasks)
    if solver == "greedy" or not any(start.routes.values()):
        return start
    try:
        import ortools  # noqa: F401
    except ImportError:
        return start
    ready, ok, _ = _doable(machines, tasks)
    better = _ortools(ready, ok, start, time_limit_s)
    if better is None or (better.makespan_h, _total(better.routes)) > (start.makespan_h + 1e-9, _total(start.routes)):
        return start
    return better
