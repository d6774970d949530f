// Production progress (issue 20, docs/machinery.md section 4): per crop, the area its zones cover, the area
// planted (the sowing operations' covered ground inside them: not typed twice) and each kind of work's share;
// per region of the farm (a named group of fields, GET /progress/regions), per site and per field, each kind's
// covered hectares and share; the season's operations on a timeline; the harvest per crop and per field at each
// crop's standard moisture, and each of the combines' yield monitor logs (mass and yield at standard moisture).
// Live: recorded work updates them.

import { api } from "../api.js";
import { card, h, notice, svg, table } from "../dom.js";
import { dateTime, num } from "../fmt.js";
import { t, tr } from "../i18n.js";
import { KINDS, fieldTable } from "./machinery.js";

function cropTable(crops) {
  const kinds = KINDS.filter((k) => k !== "sowing" && crops.crops.some((c) => c.kinds.some((x) => x.kind === k)));
  return table([t("progress.col.crop"), t("progress.col.zones"), t("machinery.col.area"), t("progress.col.planted"),
    ...kinds.map((k) => t(`machinery.kind.${k}`))],
  crops.crops.map((c) => h("tr", { "data-crop": c.crop },
    h("td", {}, tr("crop", c.crop)), h("td", {}, String(c.zones)), h("td", {}, num(c.area_ha, 2, t("unit.ha"))),
    h("td", { "data-planted": String(c.planted_pct) }, t("progress.share", { ha: num(c.planted_ha, 2, t("unit.ha")),
      pct: num(c.planted_pct, 1, "%") }),
    c.planted_entered_ha > 0 ? h("span", { class: "small muted" }, " ", t("progress.entered", {
      ha: num(c.planted_entered_ha, 2, t("unit.ha")) })) : ""),
    kinds.map((k) => {
      const x = c.kinds.find((y) => y.kind === k);
      return h("td", { "data-kind": k }, x ? t("progress.share", { ha: num(x.covered_ha, 2, t("unit.ha")),
        pct: num(x.covered_pct, 1, "%") }) : "—");
    }))), { "data-testid": "crop-progress" });
}

// Each yield monitor log's totals at standard moisture (POST /yield-logs, docs/machinery.md section 8).
function harvestTable(logs, fields) {
  return table(["field", "crop", "mass", "harvested", "yield", "moisture"].map((k) => t(`progress.harvest.col.${k}`)),
    logs.map((l) => h("tr", { "data-log": String(l.id), "data-field": l.field_id },
      h("td", {}, fields[l.field_id]?.name || l.field_id), h("td", {}, tr("crop", l.crop)),
      h("td", {}, num(l.mass_kg / 1000, 2, t("unit.t"))), h("td", {}, num(l.harvested_ha, 2, t("unit.ha"))),
      h("td", { "data-yield": String(l.mean_yield_t_ha) }, num(l.mean_yield_t_ha, 2, t("unit.t-ha"))),
      h("td", {}, t("progress.harvest.moisture", { pct: num(l.mean_moisture_pct, 1, "%"),
        std: num(l.standard_moisture_pct, 1, "%") })))), { "data-testid": "harvest" });
}

// The harvest totalled per crop and per field (GET /yield-totals, docs/machinery.md section 8): each crop's grain
// at its standard moisture (maize 15.5 %, wheat 13.5 %, ...), a log posted again with other settings counted once.
function totalsTables(totals, fields) {
  const cols = (first) => [...first, "mass", "harvested", "yield", "standard"].map((k) => t(`progress.totals.col.${k}`));
  const figures = (x) => [
    h("td", { "data-mass": String(x.mass_kg) }, num(x.mass_kg / 1000, 2, t("unit.t"))),
    h("td", {}, num(x.harvested_ha, 2, t("unit.ha"))),
    h("td", { "data-yield": String(x.mean_yield_t_ha) }, num(x.mean_yield_t_ha, 2, t("unit.t-ha"))),
    h("td", { "data-standard": String(x.standard_moisture_pct) }, num(x.standard_moisture_pct, 1, "%"))];
  const crop = (c) => (c ? tr("crop", c) : t("progress.totals.no-crop"));
  return h("div", {},
    h("h4", {}, t("progress.totals.crops")),
    table(cols(["crop", "fields"]), totals.crops.map((c) => h("tr", { "data-crop": c.crop || "" },
      h("td", {}, crop(c.crop)), h("td", {}, String(c.fields)), figures(c))), { "data-testid": "yield-crops" }),
    h("h4", {}, t("progress.totals.fields")),
    table(cols(["field", "crop"]), totals.fields.map((f) => h("tr", { "data-field": f.field_id, "data-crop": f.crop || "" },
      h("td", {}, fields[f.field_id]?.name || f.field_id), h("td", {}, crop(f.crop)), figures(f))),
    { "data-testid": "yield-fields" }),
    totals.replaced.length ? h("p", { class: "small muted" }, t("progress.totals.replaced", { n: totals.replaced.length })) : "",
    h("p", { class: "small muted" }, t("progress.totals.how")));
}

// The moisture each crop's totals are given at (GET /standard-moistures): the farm's own figures with the source it
// gave (a GB figure, a buyer's contract) and the built-in United States ones; an agronomist or admin sets a crop's
// own (PUT /standard-moistures/{crop}) or drops it (DELETE), and the totals above follow (docs/machinery.md
// section 8). The server checks every value; its refusal, naming the field, stays under the form.
function moistureCard(moistures, crops, ctx, saved) {
  const status = h("p", { class: "small", "data-testid": "moisture-status" });
  const rows = table(["crop", "pct", "source", ""].map((k) => (k ? t(`progress.moisture.col.${k}`) : "")),
    moistures.map((m) => h("tr", { "data-crop": m.crop, "data-own": String(m.own) },
      h("td", {}, tr("crop", m.crop)), h("td", { "data-pct": String(m.pct) }, num(m.pct, 1, "%")),
      h("td", { class: "small" }, m.own ? t("progress.moisture.entered", { source: m.source,
        by: (m.by || "").replace(/^person:/, ""), when: dateTime(m.updated_ms) }) : t("progress.moisture.built-in")),
      h("td", {}, m.own && ctx.can("plan") ? h("button", { type: "button", "data-testid": `moisture-drop-${m.crop}`,
        onclick: async () => {
          try {
            await api(`/standard-moistures/${encodeURIComponent(m.crop)}`, { method: "DELETE" });
            await saved();
          } catch (err) {
            status.replaceChildren(notice(err.message, "warn"));
          }
        } }, t("progress.moisture.drop")) : ""))), { "data-testid": "standard-moistures" });
  if (!ctx.can("plan")) return h("div", {}, rows, status);
  const el = {
    crop: h("input", { name: "crop", type: "text", required: true, maxlength: 64, "data-field": "crop",
      list: "moisture-crops" }),
    pct: h("input", { name: "pct", type: "number", step: "any", min: 0, max: 40, required: true, "data-field": "pct" }),
    source: h("input", { name: "source", type: "text", required: true, maxlength: 300, "data-field": "source" }),
  };
  const form = h("form", { class: "entry", "data-testid": "moisture-form" },
    h("h4", {}, t("progress.moisture.form")),
    // the crops as the logs and the built-in table name them, each offered with its name in the reader's language
    h("datalist", { id: "moisture-crops" }, crops.map((c) => h("option", { value: c }, tr("crop", c)))),
    h("div", { class: "fields" },
      h("label", {}, t("progress.moisture.col.crop"), el.crop), h("label", {}, t("progress.moisture.col.pct"), el.pct),
      h("label", {}, t("progress.moisture.col.source"), el.source)),
    h("button", { type: "submit" }, t("progress.moisture.save")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api(`/standard-moistures/${encodeURIComponent(el.crop.value.trim())}`, { method: "PUT",
        body: { pct: Number(el.pct.value), source: el.source.value } });
      form.reset();
      await saved();
    } catch (err) {
      status.replaceChildren(notice(err.message, "warn"));
    }
  });
  return h("div", {}, rows, form, status);
}

// Each zone's expected yield for the season so far (FAO-33 eq. 1 from its water balance, docs/machinery.md
// section 10) beside what the harvest gave: the zone's harvest record, else its field's yield monitor logs.
function expectedTable(zones) {
  const harvested = (z) => {
    if (z.harvest) return z.harvest.yield_t_ha;
    if (!z.yield_logs.length) return null;
    const mass = z.yield_logs.reduce((a, g) => a + g.mean_yield_t_ha * g.harvested_ha, 0);
    const area = z.yield_logs.reduce((a, g) => a + g.harvested_ha, 0);
    return area ? mass / area : null;
  };
  return table(["zone", "crop", "water", "ky", "relative", "expected", "total", "harvested"].map((k) =>
    t(`progress.expected.col.${k}`)),
  zones.map((z) => {
    const got = harvested(z);
    return h("tr", { "data-zone": z.zone_id },
      h("td", {}, z.zone_name), h("td", {}, tr("crop", z.crop)),
      h("td", { "data-water": String(z.eta_over_etm ?? "") }, z.eta_mm === null ? "—"
        : t("progress.expected.water", { eta: num(z.eta_mm, 0, t("unit.mm")), etm: num(z.etm_mm, 0, t("unit.mm")),
          pct: z.eta_over_etm === null ? "—" : num(100 * z.eta_over_etm, 1, "%") })),
      h("td", {}, z.ky === null ? "—" : num(z.ky, 2)),
      h("td", { "data-relative": String(z.relative_yield ?? "") },
        z.relative_yield === null ? "—" : num(100 * z.relative_yield, 1, "%")),
      h("td", { "data-expected": String(z.ya_t_ha ?? "") }, z.ya_t_ha === null
        ? h("span", { class: "small muted" }, z.missing.map((m) => t(`progress.expected.missing.${m.field}`)).join("; "))
        : num(z.ya_t_ha, 2, t("unit.t-ha"))),
      h("td", {}, z.total_t === null ? "—" : num(z.total_t, 2, t("unit.t"))),
      h("td", { "data-harvested": String(got ?? "") }, got === null ? "—" : num(got, 2, t("unit.t-ha"))));
  }), { "data-testid": "expected-yield" });
}

// Progress per site: each site's fields with a boundary, their area and each kind's covered
// hectares summed, and the share of the site's field area that is.
function siteTable(sites, fields, progress) {
  const rows = sites.map((site) => {
    const mine = fields.filter((f) => f.site_id === site.id && progress[f.id]);
    const area = mine.reduce((a, f) => a + progress[f.id].field_ha, 0);
    const covered = Object.fromEntries(KINDS.map((k) => [k, mine.reduce((a, f) =>
      a + (progress[f.id].kinds.find((x) => x.kind === k)?.covered_ha || 0), 0)]));
    return { site, fields: mine.length, area, covered };
  }).filter((r) => r.fields);
  const kinds = KINDS.filter((k) => rows.some((r) => r.covered[k] > 0));
  return table([t("progress.col.site"), t("progress.col.fields"), t("machinery.col.area"),
    ...kinds.map((k) => t(`machinery.kind.${k}`))],
  rows.map((r) => h("tr", { "data-site": r.site.id },
    h("td", {}, r.site.name), h("td", {}, String(r.fields)), h("td", {}, num(r.area, 2, t("unit.ha"))),
    kinds.map((k) => h("td", { "data-kind": k, "data-ha": String(Math.round(r.covered[k] * 1e4) / 1e4) },
      t("progress.share", { ha: num(r.covered[k], 2, t("unit.ha")), pct: num(r.area ? (100 * r.covered[k]) / r.area : 0, 1, "%") }))))),
  { "data-testid": "site-progress" });
}

// Progress per region of the farm (GET /progress/regions): each named group of fields, its area, what is planted
// and each kind's covered hectares and share, summed over its fields by the server.
function regionTable(regions) {
  const kinds = KINDS.filter((k) => regions.some((r) => r.kinds.some((x) => x.kind === k)));
  return table([t("progress.col.region"), t("progress.col.fields"), t("machinery.col.area"), t("progress.col.planted"),
    ...kinds.map((k) => t(`machinery.kind.${k}`))],
  regions.map((r) => h("tr", { "data-region": r.region },
    h("td", {}, r.name), h("td", {}, String(r.fields.length),
      r.fields_without_boundary.length ? h("span", { class: "small muted" }, " ",
        t("progress.regions.without-boundary", { n: r.fields_without_boundary.length })) : ""),
    h("td", {}, num(r.area_ha, 2, t("unit.ha"))),
    h("td", { "data-planted": String(r.planted_pct) }, t("progress.share", { ha: num(r.planted_ha, 2, t("unit.ha")),
      pct: num(r.planted_pct, 1, "%") })),
    kinds.map((k) => {
      const x = r.kinds.find((y) => y.kind === k);
      return h("td", { "data-kind": k, "data-ha": String(x ? x.covered_ha : 0) }, x
        ? t("progress.share", { ha: num(x.covered_ha, 2, t("unit.ha")), pct: num(x.covered_pct, 1, "%") }) : "—");
    }))), { "data-testid": "region-progress" });
}

// The season timeline: a row per field, each operation a bar from its start to its end, coloured by kind.
const TL_W = 720;
const TL_ROW = 22;
const TL_LEFT = 130;
function timeline(ops, fields) {
  const ids = [...new Set(ops.map((o) => o.field_id))].sort();
  const t0 = Math.min(...ops.map((o) => o.started_ms));
  const t1 = Math.max(...ops.map((o) => o.ended_ms));
  const x = (ms) => TL_LEFT + ((ms - t0) / Math.max(t1 - t0, 1)) * (TL_W - TL_LEFT - 10);
  const height = ids.length * TL_ROW + 34;
  const drawing = svg("svg", { viewBox: `0 0 ${TL_W} ${height}`, class: "timeline", role: "img",
    "aria-label": t("progress.timeline.label"), "data-testid": "timeline" });
  ids.forEach((id, row) => {
    const y = row * TL_ROW + 6;
    drawing.append(svg("text", { x: 4, y: y + 13, class: "small" }, fields[id]?.name || id));
    for (const o of ops.filter((p) => p.field_id === id)) {
      drawing.append(svg("rect", { x: x(o.started_ms), y, width: Math.max(3, x(o.ended_ms) - x(o.started_ms)),
        height: TL_ROW - 6, class: `op ${o.kind}`, "data-op": String(o.id), "data-kind": o.kind },
      svg("title", {}, `${t(`machinery.kind.${o.kind}`)} · ${dateTime(o.started_ms)}`)));
    }
  });
  const base = ids.length * TL_ROW + 22;
  drawing.append(svg("text", { x: TL_LEFT, y: base, class: "small" }, dateTime(t0)),
    svg("text", { x: TL_W - 10, y: base, "text-anchor": "end", class: "small" }, dateTime(t1)));
  const seen = KINDS.filter((k) => ops.some((o) => o.kind === k));
  return h("div", {}, drawing, h("p", { class: "small legend" }, seen.map((k) =>
    h("span", { class: `key ${k}` }, "■ ", t(`machinery.kind.${k}`), " "))));
}

export async function render(root, ctx) {
  root.append(h("h1", {}, t("progress.title")));
  const cropBox = h("div", {});
  const fieldBox = h("div", {});
  const harvestBox = h("div", {});
  const totalsBox = h("div", {});
  const siteBox = h("div", {});
  const regionBox = h("div", {});
  const timelineBox = h("div", {});
  const expectedBox = h("div", {});
  const moistureBox = h("div", {});
  root.append(card(t("progress.crops.title"), cropBox), card(t("progress.sites.title"), siteBox),
    card(t("progress.regions.title"), regionBox),
    card(t("machinery.fields.title"), fieldBox), card(t("progress.timeline.title"), timelineBox),
    card(t("progress.totals.title"), totalsBox), card(t("progress.moisture.title"), moistureBox),
    card(t("progress.harvest.title"), harvestBox),
    card(t("progress.expected.title"), expectedBox));
  const load = async () => {
    const [crops, fields, logs, sites, ops, zones, regions, totals, moistures] = await Promise.all([
      api("/progress/crops"), api("/registry/fields"), api("/yield-logs"), api("/registry/sites"), api("/operations"),
      api("/registry/zones"), api("/progress/regions"), api("/yield-totals"), api("/standard-moistures")]);
    // the newest season any zone was planted in
    const years = zones.map((z) => z.planting_date).filter(Boolean).map((d) => d.slice(0, 4)).sort();
    const expected = years.length ? await api(`/expected-yield?season=${years[years.length - 1]}`) : [];
    const progress = {};
    await Promise.all(fields.filter((f) => f.boundary).map(async (f) => {
      progress[f.id] = await api(`/fields/${encodeURIComponent(f.id)}/progress`);
    }));
    cropBox.replaceChildren(crops.crops.length ? cropTable(crops) : notice(t("progress.no-crops")),
      crops.zones_without_boundary.length
        ? h("p", { class: "small muted" }, t("progress.zones-without-boundary", { n: crops.zones_without_boundary.length }))
        : "");
    fieldBox.replaceChildren(fields.length ? fieldTable(fields, progress) : notice(t("machinery.no-fields")));
    regionBox.replaceChildren(regions.length ? regionTable(regions) : notice(t("progress.regions.none")));
    siteBox.replaceChildren(Object.keys(progress).length ? siteTable(sites, fields, progress) : notice(t("machinery.no-fields")));
    const byId = Object.fromEntries(fields.map((f) => [f.id, f]));
    timelineBox.replaceChildren(ops.length ? timeline(ops, byId) : notice(t("progress.timeline.none")));
    totalsBox.replaceChildren(totals.fields.length ? totalsTables(totals, byId) : notice(t("progress.harvest.none")));
    const named = [...new Set([...moistures.map((m) => m.crop), ...logs.map((l) => l.crop).filter(Boolean)])].sort();
    moistureBox.replaceChildren(moistureCard(moistures, named, ctx, load));
    harvestBox.replaceChildren(logs.length ? harvestTable(logs, Object.fromEntries(fields.map((f) => [f.id, f])))
      : notice(t("progress.harvest.none")));
    expectedBox.replaceChildren(expected.length ? expectedTable(expected) : notice(t("progress.expected.none")),
      h("p", { class: "small muted" }, t("progress.expected.how")));
  };
  await load();
  ctx.on("operation", () => load());
}
