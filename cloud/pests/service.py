"""Pests in the service: traps, counts from trap photos, people's corrections, the species table, and
each zone's species seasons (biofix, degree days, stage forecast, pressure against thresholds).

The image store runs `on_trap_photo` for every stored trap photo (ImageService.subscribe): the
counter (counting.py) runs in a worker thread on the trap's card and lure, and the count is kept
once per image. A photo of a node with no trap set up is not counted (`stats["unconfigured"]`);
setting the trap up counts the photos it already has.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from furrow.edge.errors import ContractError

from .._time import Clock
from .._time import now_ms as _now_ms
from ..agronomy.alerts import SpeciesPressure
from ..agronomy.normals import MIN_YEARS, DayNormal, Normals, normals_from_history, parse_normals_csv
from ..agronomy.phenology import Basis
from ..agronomy.species import SHIPPED, Species
from ..db import Database
from ..errors import Conflict, NotFound
from ..events import EventBus
from ..images import ImageService, StoredImage
from ..images.pixels import photo_rgb
from ..planning.forecast import Where
from ..planning.forecasts import ForecastService
from ..planning.inputs import locate
from ..planning.weather import HOUR_MS, MIN_HOURS, fetch_weather
from ..registry import FIELDS, NODES, SITES, ZONES, Registry
from ..registry.models import NodeOut, ZoneOut
from ..storage import ReadingStore
from . import records
from .classifier import SpeciesClassifier
from .counting import CardSpec, count_card
from .models import AccuracyOut, CountDetail, CountOut, NormalDayOut, NormalsOut, ReviewOut, TrapIn, TrapOut
from .season import Check, Season, alert_pressure, card_checks, pulse_checks, species_season

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
CATCH_UP = 500  # photos counted at most when a trap is set up
TRAP_CHANNELS = {"camera": (1,), "pest": (1, 2, 3, 4)}  # a pest node counts 4 traps (edge/modbus_map.py)


def _tz(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class PestService:
    """Traps, counts, reviews, species and seasons (module docstring)."""

    def __init__(self, db: Database, registry: Registry, store: ReadingStore, images: ImageService | None = None,
                 forecasts: ForecastService | None = None, clock: Clock = _now_ms, events: EventBus | None = None,
                 classifier: SpeciesClassifier | None = None) -> None:
        self.db = db
        self.registry = registry
        self.store = store
        self.images = images
        self.forecasts = forecasts
        self.clock = clock
        self.events = events
        self.classifier = classifier
        self.stats = {"counted": 0, "unconfigured": 0, "season_failures": 0}
        self._farm_normals: dict[tuple, tuple[Normals | None, int]] = {}

    # -- species ------------------------------------------------------------------

    async def species_table(self) -> list[Species]:
        """The shipped species, each replaced by an agronomist's entry of the same key, and hers."""
        rows = await self.db.run(records.species_rows)
        mine = {r.key: Species.model_validate(r.data) for r in rows}
        return sorted([mine.pop(s.key, s) for s in SHIPPED] + list(mine.values()), key=lambda s: s.key)

    async def species(self, key: str) -> Species:
        found = next((s for s in await self.species_table() if s.key == key), None)
        if found is None:
            raise NotFound("species", key, "no species of this key in the table (GET /api/v1/pests/species)")
        return found

    async def put_species(self, sp: Species, by: str) -> Species:
        await self.db.run(lambda s: records.put_species(s, sp.key, sp.model_dump(mode="json"), by, self.clock()))
        return sp

    async def delete_species(self, key: str) -> None:
        """Remove an agronomist's entry (a shipped species of that key comes back)."""
        if not await self.db.run(lambda s: records.delete_species(s, key)):
            raise NotFound("species", key, "no entry of an agronomist under this key (shipped ones stay)")

    # -- traps ----------------------------------------------------------------------

    async def put_trap(self, node: str, channel: int, trap: TrapIn, by: str) -> TrapOut:
        """Set a trap up on a registered camera node (its card, channel 1) or pest node (its pulse
        counter's channel 1-4); a camera's photos already stored are counted now."""
        registered: NodeOut = await self.registry.get(NODES, node)  # type: ignore[assignment]
        role = str(registered.role)
        if role not in TRAP_CHANNELS:
            raise Conflict("node", node, f"is a {role} node: a trap is watched by a camera or pest node")
        if channel not in TRAP_CHANNELS[role]:
            raise ContractError("channel", channel, f"a {role} node's trap is on channel "
                                f"{' or '.join(str(c) for c in TRAP_CHANNELS[role])}")
        if role == "camera" and trap.view_width_mm is None:
            raise ContractError("view_width_mm", None, "a camera's trap needs the width of card its photo shows")
        if trap.lure is not None:
            try:
                await self.species(trap.lure)
            except NotFound:
                raise ContractError("lure", trap.lure, "is not a species of the table (GET /api/v1/pests/species)"
                                    ) from None
        row = await self.db.run(lambda s: records.put_trap(s, node, channel, str(trap.card), trap.lure,
                                                           trap.view_width_mm, by, self.clock()))
        out = TrapOut.model_validate(row)
        if role == "camera" and self.images is not None:
            await self._catch_up(node)
        return out

    async def traps(self) -> list[TrapOut]:
        return [TrapOut.model_validate(r) for r in await self.db.run(records.traps)]

    async def lured_counters(self) -> dict[str, frozenset[int]]:
        """Per pest node, the counter channels set up with a lure: their species' own action threshold
        watches them (the alert job's one trap threshold is for the others)."""
        out: dict[str, set[int]] = defaultdict(set)
        for t in await self.traps():
            if t.lure is not None:
                out[t.node].add(t.channel)
        return {node: frozenset(chs) for node, chs in out.items()}

    async def _catch_up(self, node: str) -> None:
        assert self.images is not None
        counted = {r.seq for r in await self.db.run(lambda s: records.count_rows(s, node=node))}
        for image in await self.images.list(node=node, kind="trap", limit=CATCH_UP):
            if image.seq not in counted:
                data = await self.images.content(node, image.seq)
                if data is not None:
                    await self.on_trap_photo(image, data)

    # -- counts -------------------------------------------------------------------

    async def on_trap_photo(self, image: StoredImage, data: bytes) -> CountOut | None:
        """The image store's processing step for trap photos (see the module docstring)."""
        trap = next((t for t in await self.traps() if t.node == image.node and t.channel == 1), None)
        if trap is None or not trap.view_width_mm:
            self.stats["unconfigured"] += 1
            log.info("trap photo %s/%d not counted: no trap with a view width is set up on %s", image.node,
                     image.seq, image.node)
            return None
        species = await self.species(trap.lure) if trap.lure else None
        rgb = await asyncio.to_thread(photo_rgb, data)
        spec = CardSpec(px_per_mm=rgb.shape[1] / trap.view_width_mm,
                        target_mm=(species.card.min_mm, species.card.max_mm) if species and species.card else None)
        found = await asyncio.to_thread(count_card, rgb, spec, self.classifier, trap.lure)
        values = dict(node=image.node, seq=image.seq, channel=1, zone_id=image.zone_id, ts_ms=image.ts_ms,
                      species=trap.lure, total=found.total, target=found.target if trap.lure else 0,
                      by_class=found.by_class, objects=[i.record() for i in found.insects], method=found.method[:200],
                      px_per_mm=round(spec.px_per_mm, 4), created_ms=self.clock())
        row, new = await self.db.run(lambda s: records.add_count(s, **values))
        out = CountOut.model_validate(row)
        if new:
            self.stats["counted"] += 1
            if self.events is not None:
                self.events.publish("trap-count", out.model_dump())
        return out

    async def counts(self, *, node: str | None = None, zone: str | None = None, start_ms: int | None = None,
                     end_ms: int | None = None) -> list[CountOut]:
        rows = await self.db.run(lambda s: records.count_rows(s, node=node, zone=zone, start_ms=start_ms,
                                                              end_ms=end_ms))
        return [CountOut.model_validate(r) for r in rows]

    async def count(self, node: str, seq: int) -> CountDetail:
        def read(session):  # noqa: ANN001, ANN202
            row = records.count_row(session, node, seq)
            return row, records.reviews(session, row.id)

        row, history = await self.db.run(read)
        return CountDetail.model_validate({**CountOut.model_validate(row).model_dump(), "objects": row.objects,
                                           "reviews": [ReviewOut.model_validate(r) for r in history]})

    async def review(self, node: str, seq: int, target: int, total: int | None, by: str, note: str | None) -> CountOut:
        """A person's count; `total` defaults to the counter's non-target plus `target`."""
        current = await self.count(node, seq)
        if total is None:
            total = current.total - current.target + target
        if target > total:
            raise ContractError("target", target, f"is more than the photo's total ({total})")
        row = await self.db.run(lambda s: records.review(s, node, seq, total, target, by, note, self.clock()))
        out = CountOut.model_validate(row)
        if self.events is not None:
            self.events.publish("trap-count", out.model_dump())
        return out

    async def accuracy(self, start_ms: int | None = None, end_ms: int | None = None) -> list[AccuracyOut]:
        """Per trap node, the counter against the reviewed photos: mean absolute error and bias."""
        reviewed = [c for c in await self.counts(start_ms=start_ms, end_ms=end_ms) if c.reviewed_target is not None]
        by_node: dict[str, list[CountOut]] = defaultdict(list)
        for c in reviewed:
            by_node[c.node].append(c)
        out = []
        for node, cs in sorted(by_node.items()):
            n = len(cs)
            out.append(AccuracyOut(
                node=node, reviewed=n,
                mae_target=round(sum(abs(c.target - (c.reviewed_target or 0)) for c in cs) / n, 2),
                mae_total=round(sum(abs(c.total - (c.reviewed_total or 0)) for c in cs) / n, 2),
                mean_reviewed_target=round(sum(c.reviewed_target or 0 for c in cs) / n, 2),
                bias_target=round(sum(c.target - (c.reviewed_target or 0) for c in cs) / n, 2)))
        return out

    # -- climate normals ------------------------------------------------------------

    async def put_normals(self, site: str, data: bytes, source: str, by: str) -> NormalsOut:
        """Import a site's normals (agronomy/normals.py's CSV; NormalsInvalid names every bad cell)."""
        await self.registry.get(SITES, site)
        normals = parse_normals_csv(data, source)
        days = [[d.tmax_c, d.tmin_c, d.tmax_sd_c, d.tmin_sd_c] for d in normals.days]
        await self.db.run(lambda s: records.put_normals(s, site, source, days, by, self.clock()))
        return await self.normals(site)

    async def delete_normals(self, site: str) -> None:
        if not await self.db.run(lambda s: records.delete_normals(s, site)):
            raise NotFound("site", site, "no imported normals for this site")

    async def _imported(self, site: str) -> tuple[Normals | None, object]:
        row = await self.db.run(lambda s: records.normals_row(s, site))
        if row is None:
            return None, None
        return Normals("imported", row.source, tuple(DayNormal(*d) for d in row.days)), row

    async def _site_weather_nodes(self, site_id: str) -> list[str]:
        fields = {f.id for f in await self.registry.all(FIELDS, site_id=site_id)}  # type: ignore[attr-defined]
        zones = {z.id for z in await self.registry.all(ZONES) if z.field_id in fields}  # type: ignore[attr-defined]
        return sorted(n.id for n in await self.registry.all(NODES) if n.zone_id in zones  # type: ignore[attr-defined]
                      and n.role == "weather")  # type: ignore[attr-defined]

    async def site_normals(self, site_id: str, nodes: list[str], tz: ZoneInfo,
                           today: date) -> tuple[Normals | None, int]:
        """The normals the site's forecast uses: the farm's own (its weather `nodes` before this season,
        from MIN_YEARS years per calendar day), else the imported ones, else none; and the farm's years."""
        farm, years = await self._farm_history_normals(site_id, nodes, tz, today)
        if farm is not None:
            return farm, years
        imported, _ = await self._imported(site_id)
        return imported, years

    async def _farm_history_normals(self, site_id: str, nodes: list[str], tz: ZoneInfo, today: date,
                                    ) -> tuple[Normals | None, int]:
        """Daily Tmax/Tmin (hourly means, days with at least MIN_HOURS hours) of the last 30 years before this
        season, then normals_from_history; computed once a day per site (a probe first: nothing older than
        MIN_YEARS years, no history to read)."""
        if not nodes:
            return None, 0
        key = (site_id, tuple(nodes), today)
        if key in self._farm_normals:
            return self._farm_normals[key]
        season = datetime(today.year, 1, 1, tzinfo=tz)
        end_ms = int(season.timestamp() * 1000)
        start_ms = int(season.replace(year=today.year - 30).timestamp() * 1000)
        probe_ms = int(season.replace(year=today.year - MIN_YEARS).timestamp() * 1000)
        old = [r for n in nodes for r in await self.store.query(n, "air_temp_c", start_ms, probe_ms + DAY_MS, 1)]
        result: tuple[Normals | None, int] = (None, 0)
        if old:
            buckets = await self.store.aggregate(nodes, "air_temp_c", start_ms, end_ms, HOUR_MS, "mean")
            days: dict[date, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
            for b in buckets:
                if b.value is not None:
                    local = datetime.fromtimestamp(b.time_ms / 1000, tz)
                    days[local.date()][local.hour].append(b.value)
            history = []
            for d, hours in sorted(days.items()):
                if len(hours) >= MIN_HOURS:
                    means = [sum(v) / len(v) for v in hours.values()]
                    history.append((d, min(means), max(means)))
            first, last = (history[0][0].year, history[-1][0].year) if history else (0, 0)
            result = normals_from_history(history, (
                f"the farm's weather node{'s' if len(nodes) > 1 else ''} {', '.join(nodes)}, {first}-{last}: "
                f"period averages of each calendar day ±7 days over at least {MIN_YEARS} years"))
        self._farm_normals = {k: v for k, v in self._farm_normals.items() if k[2] == today}
        self._farm_normals[key] = result
        return result

    async def normals(self, site: str, now_ms: int | None = None) -> NormalsOut:
        """The site's normals (NormalsOut): the ones in use, the farm's years, the imported file's record."""
        registered = await self.registry.get(SITES, site)
        tz = _tz(registered.timezone)  # type: ignore[attr-defined]
        today = datetime.fromtimestamp((self.clock() if now_ms is None else now_ms) / 1000, tz).date()
        used, years = await self.site_normals(site, await self._site_weather_nodes(site), tz, today)
        imported, row = await self._imported(site)
        days = [] if used is None else [NormalDayOut(doy=k + 1, tmax_c=d.tmax_c, tmin_c=d.tmin_c, tmax_sd_c=d.tmax_sd_c,
                                                     tmin_sd_c=d.tmin_sd_c) for k, d in enumerate(used.days)]
        return NormalsOut(site=site, kind=used.kind if used else None, source=used.source if used else None,
                          min_years=MIN_YEARS, farm_years=years, has_sd=bool(used and used.has_sd),
                          imported_source=imported.source if imported else None,
                          imported_by=getattr(row, "by", None), imported_ms=getattr(row, "updated_ms", None), days=days)

    # -- seasons ---------------------------------------------------------------------

    async def _checks(self, traps: list[TrapOut], start_ms: int, end_ms: int, tz: ZoneInfo,
                      roles: dict[str, str]) -> dict[str, list[Check]]:
        """Per lure species, the checks of its traps: camera counts (reviewed where reviewed) and the
        daily catches of pulse-counting pest nodes."""
        out: dict[str, list[Check]] = defaultdict(list)
        for t in traps:
            if t.lure is None:
                continue
            name = t.node if roles.get(t.node) == "camera" else f"{t.node}/{t.channel}"
            if roles.get(t.node) == "camera":
                rows = await self.counts(node=t.node, start_ms=start_ms, end_ms=end_ms)
                series = [(c.ts_ms, c.reviewed_target if c.reviewed_target is not None else c.target) for c in rows
                          if c.species == t.lure]
                out[t.lure] += card_checks(name, series, tz)
            elif roles.get(t.node) == "pest":
                per_day: dict[date, int] = defaultdict(int)
                for r in await self.store.query(t.node, "trap_count", start_ms, end_ms, 100_000):
                    if r.value is not None and (r.channel or 1) == t.channel:
                        per_day[datetime.fromtimestamp(r.ts_ms / 1000, tz).date()] += int(r.value)
                out[t.lure] += pulse_checks(name, list(per_day.items()))
        return out

    async def zone_seasons(self, zone_id: str, now_ms: int | None = None) -> list[Season]:
        """Each species lured by a trap of the zone: its season as of now (season.py). The season is the
        calendar year in the site's time zone."""
        now = self.clock() if now_ms is None else now_ms
        zone: ZoneOut = await self.registry.get_zone(zone_id)
        field = await self.registry.get(FIELDS, zone.field_id)
        site = await self.registry.get(SITES, field.site_id)  # type: ignore[attr-defined]
        tz = _tz(site.timezone)  # type: ignore[attr-defined]
        nodes: list[NodeOut] = await self.registry.all(NODES)  # type: ignore[assignment]
        roles = {n.id: str(n.role) for n in nodes}
        members = [n for n in nodes if n.zone_id == zone_id]
        traps = [t for t in await self.traps() if t.node in {n.id for n in members}]
        today = datetime.fromtimestamp(now / 1000, tz).date()
        year_start = int(datetime(today.year, 1, 1, tzinfo=tz).timestamp() * 1000)
        checks = await self._checks(traps, year_start, now + 1, tz, roles)
        if not checks:
            return []
        fields = {f.id for f in await self.registry.all(FIELDS, site_id=site.id)}  # type: ignore[attr-defined]
        site_zones = {z.id for z in await self.registry.all(ZONES) if z.field_id in fields}  # type: ignore[attr-defined]
        site_nodes = [n for n in nodes if n.zone_id in site_zones]
        weather_nodes = [n.id for n in members if n.role == "weather"] or sorted(
            n.id for n in site_nodes if n.role == "weather")
        weather = await self._weather(weather_nodes, year_start, now, tz, today)
        weather += await self._forecast(site, zone_id, members, site_nodes, tz, now, today,
                                        last=weather[-1][0] if weather else today - timedelta(days=1))
        normals, _ = await self.site_normals(site.id, sorted(n.id for n in site_nodes if n.role == "weather"),  # type: ignore[attr-defined]
                                             tz, today)
        out = []
        for key in sorted(checks):
            try:
                sp = await self.species(key)
            except NotFound:
                continue
            out.append(species_season(sp, checks[key], weather, today, normals, zone.crop))
        return out

    async def alert_pressures(self, zone_id: str, now_ms: int) -> list[SpeciesPressure]:
        """The alert job's view of the zone's species (alerts/snapshot.py SpeciesOf): each with an action
        threshold, its catch, traps over it, trend and next control window. A zone whose season fails is
        logged and counted (`stats["season_failures"]`) and gives nothing: the other alerts go on."""
        try:
            seasons = await self.zone_seasons(zone_id, now_ms)
        except Exception:  # one zone's data must never stop the farm's alerts
            self.stats["season_failures"] += 1
            log.exception("pest season of zone %s failed; its species raise no alert this time", zone_id)
            return []
        names = {s.key: s.name for s in await self.species_table()}
        return [alert_pressure(zone_id, names.get(s.species, s.species), s) for s in seasons if s.pressure is not None]

    async def _weather(self, nodes: list[str], start_ms: int, now_ms: int, tz: ZoneInfo, today: date,
                       ) -> list[tuple[date, float, float, Basis]]:
        if not nodes:
            return []
        first = datetime.fromtimestamp(start_ms / 1000, tz).date()
        days = [first + timedelta(days=k) for k in range((today - first).days + 1)]
        measured = await fetch_weather(self.store, nodes, start_ms, now_ms + 1, tz, days)
        return [(d.day, d.weather.tmin_c, d.weather.tmax_c, Basis.OBSERVED) for d in measured if d.weather is not None]

    async def _forecast(self, site, zone_id: str, members: list[NodeOut], site_nodes: list[NodeOut],  # noqa: ANN001
                        tz: ZoneInfo, now_ms: int, today: date, last: date) -> list[tuple[date, float, float, Basis]]:
        if self.forecasts is None:
            return []
        where = locate([n.id for n in members if n.role == "weather"], members, site_nodes, site)
        fetched = await self.forecasts.current(Where(site.id, zone_id, where.lat if where else None,
                                                     where.lon if where else None, tz), now_ms)
        if fetched.forecast is None:
            return []
        return [(d.day, d.tmin_c, d.tmax_c, Basis.FORECAST) for d in fetched.forecast.days
                if d.day > last and d.tmin_c is not None and d.tmax_c is not None and d.tmax_c >= d.tmin_c]
