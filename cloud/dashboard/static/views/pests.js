// The zone page's pest forecast: for each species lured by a trap of the zone, the biofix, degree days
// since, the coming stages with their dates (measured weather, forecast, climate normals with the range one
// standard deviation gives, or recent weather when the site has no normals), the control
// window, and the catch against the species' own cited action threshold (GET /zones/{zone}/pests;
// the models are cloud/pests/season.py's, docs/pests.md).

import { api } from "../api.js";
import { h, notice, table } from "../dom.js";
import { dateTime } from "../fmt.js";
import { number, t, tr } from "../i18n.js";

const SHOWN_STAGES = 6; // the next stages: enough for this generation and the start of the next
const RECENT_DAYS = 14; // trap photos listed for review: two weeks of checks
const RECENT_COUNTS = 8;

function stageRows(season) {
  const next = season.stages.filter((s) => !s.day || s.day >= season.today).slice(0, SHOWN_STAGES);
  return next.map((s) => h("tr", {},
    h("td", {}, tr("pest-stage", s.name)), h("td", {}, String(s.generation)), h("td", {}, number(s.dd, 0)),
    h("td", { "data-early": s.early || "", "data-late": s.late || "" }, dayText(s)),
    h("td", {}, s.basis ? tr("pest-basis", s.basis) : "—")));
}

// A date from normals with standard deviations shows the range one SD warmer or cooler every day gives.
function dayText(s) {
  if (!s.day) return t("zone.pest.beyond");
  if (s.early || s.late) {
    return t("zone.pest.range", { day: s.day, early: s.early || "—", late: s.late || t("zone.pest.beyond") });
  }
  return s.day;
}

// What the days after the weather forecast come from: the normals and their source, or recent weather.
function beyondNote(s) {
  if (s.beyond_forecast === "normals") {
    const key = `zone.pest.beyond-${s.normals_kind}${s.normals_sd ? "-sd" : ""}`;
    return h("p", { class: "muted small", "data-testid": `pest-beyond-${s.species}`, "data-beyond": "normals" },
      t(key, { source: "" }), h("cite", {}, s.normals_source));
  }
  return h("p", { class: "muted small", "data-testid": `pest-beyond-${s.species}`, "data-beyond": "recent" },
    t("zone.pest.beyond-recent"));
}

// The biofix rule in the reader's language, from the species table's values.
function ruleText(sp) {
  const b = sp && sp.biofix;
  if (!b) return t("zone.pest.rule-none");
  if (b.rule === "date") return t("zone.pest.rule-date", { date: b.date || "—" });
  return t("zone.pest.rule-sustained", { checks: b.checks, min: number(b.min_catch) });
}

function pressureNote(p) {
  const params = { value: number(p.value, 1), threshold: number(p.threshold), traps: p.traps_over.join(", ") || "—",
    trend: tr("trend", p.trend) };
  const text = t(`zone.pest.pressure-${p.per}`, params);
  const out = h("div", {}, notice(text, p.above ? "warn" : "info"));
  const crops = (cs) => cs.map((c) => tr("crop", c)).join(t("punct.list"));
  if (p.crop_match === true) {
    // of the species' thresholds, this one was set for the zone's crop
    out.append(h("p", { class: "muted small", "data-testid": "threshold-own-crop", "data-threshold": p.threshold },
      t("zone.pest.threshold-own-crop", { crops: crops(p.crops) })));
  } else if (p.crop_match === false && p.thresholds && p.thresholds.length > 1) {
    // several, none the zone's crop's: name them all
    const each = p.thresholds.map((x) => t(`alert.pest-threshold-for-${x.per}`,
      { threshold: number(x.catch), crops: crops(x.crops) }));
    out.append(h("p", { class: "warn small", "data-testid": "threshold-other-crop" },
      t("zone.pest.thresholds-other-crop", { thresholds: each.join(t("punct.clause")), crop: tr("crop", p.crop) })));
  } else if (p.crop_match === false) {
    // the threshold is another crop's: say so beside the catch, not only in the citation
    out.append(h("p", { class: "warn small", "data-testid": "threshold-other-crop" },
      t("zone.pest.threshold-other-crop", { crops: p.crops.map((c) => tr("crop", c)).join(t("punct.list")),
        crop: tr("crop", p.crop) })));
  }
  // a citation is quoted as published, in its own language
  out.append(h("p", { class: "muted small" }, t("zone.pest.threshold-source", { source: "" }), h("cite", {}, p.source)));
  return out;
}

function speciesBlock(s, bySpecies) {
  const sp = bySpecies[s.species];
  const block = h("div", { class: "pest-species", "data-testid": `pest-${s.species}`,
    "data-biofix": s.biofix || "", "data-above": s.pressure && s.pressure.above ? "1" : "0" });
  block.append(h("h4", {}, h("em", {}, sp ? sp.name : s.species)));
  block.append(h("p", {}, s.biofix
    ? t("zone.pest.biofix", { date: s.biofix, dd: number(s.degree_days, 0), rule: ruleText(sp) })
    : t("zone.pest.no-biofix", { rule: ruleText(sp) })));
  if (s.window) {
    const [start, end] = s.window;
    block.append(notice(t("zone.pest.window", { start: start.day || t("zone.pest.beyond"),
      end: end.day || t("zone.pest.beyond"), from: tr("pest-stage", start.name), to: tr("pest-stage", end.name) })));
  }
  if (s.stages.length) {
    block.append(table(["stage", "generation", "dd", "date", "basis"].map((k) => t(`zone.pest.${k}`)), stageRows(s),
      { "data-testid": `pest-stages-${s.species}` }));
    if (s.beyond_forecast) block.append(beyondNote(s));
  }
  if (s.pressure) block.append(pressureNote(s.pressure));
  if (s.missing.length) {
    block.append(h("p", { class: "muted small" },
      t("zone.pest.missing", { what: s.missing.map((m) => tr("pest-missing", m)).join(t("punct.list")) })));
  }
  return block;
}

// The zone's newest trap photo counts, each a link to its review page (views/trap.js).
function recentCounts(counts) {
  const rows = counts.slice(-RECENT_COUNTS).reverse().map((c) => h("tr", {},
    h("td", {}, dateTime(c.ts_ms)), h("td", {}, c.node),
    h("td", {}, `${c.reviewed_target ?? c.target} / ${c.reviewed_total ?? c.total}`),
    h("td", {}, c.reviewed_target === null ? "" : t("zone.pest.reviewed")),
    h("td", {}, h("a", { href: `#/trap/${encodeURIComponent(c.node)}/${c.seq}`, "data-testid": "review-link" },
      t("zone.pest.review")))));
  return h("div", {}, h("h4", {}, t("zone.pest.photos")),
    table(["when", "trap", "count", "status", "open"].map((k) => t(`zone.pest.photo-${k}`)), rows));
}

// The section, filled once its data is in.
export function pestSection(zoneId) {
  const section = h("section", { class: "card", "data-testid": "pest-forecast" }, h("h3", {}, t("zone.pest.title")));
  const since = Date.now() - RECENT_DAYS * 86400 * 1000;
  Promise.all([api(`/zones/${encodeURIComponent(zoneId)}/pests`), api("/pests/species"),
    api(`/pests/counts?zone=${encodeURIComponent(zoneId)}&start=${since}`)])
    .then(([seasons, species, counts]) => {
      const bySpecies = Object.fromEntries(species.map((s) => [s.key, s]));
      if (!seasons.length) section.append(h("p", { class: "muted" }, t("zone.pest.none")));
      section.append(...seasons.map((s) => speciesBlock(s, bySpecies)));
      if (counts.length) section.append(recentCounts(counts));
      section.dataset.species = String(seasons.length);
      section.dataset.ready = "1";
    })
    .catch((e) => section.append(notice(e.message, "warn")));
  return section;
}
