// The zone page's pest forecast: for each species lured by a trap of the zone, the biofix, degree days
// since, the coming stages with their dates (measured weather, forecast, or recent weather), the control
// window, and the catch against the species' own cited action threshold (GET /zones/{zone}/pests;
// the models are cloud/pests/season.py's, docs/pests.md).

import { api } from "../api.js";
import { h, notice, table } from "../dom.js";
import { number, t, tr } from "../i18n.js";

const SHOWN_STAGES = 6; // the next stages: enough for this generation and the start of the next

function stageRows(season) {
  const next = season.stages.filter((s) => !s.day || s.day >= season.today).slice(0, SHOWN_STAGES);
  return next.map((s) => h("tr", {},
    h("td", {}, tr("pest-stage", s.name)), h("td", {}, String(s.generation)), h("td", {}, number(s.dd, 0)),
    h("td", {}, s.day || t("zone.pest.beyond")), h("td", {}, s.basis ? tr("pest-basis", s.basis) : "—")));
}

function pressureNote(p) {
  const params = { value: number(p.value, 1), threshold: number(p.threshold), traps: p.traps_over.join(", ") || "—",
    trend: tr("trend", p.trend) };
  const text = t(`zone.pest.pressure-${p.per}`, params);
  return h("div", {}, notice(text, p.above ? "warn" : "info"),
    h("p", { class: "muted small" }, t("zone.pest.threshold-source", { source: p.source })));
}

function speciesBlock(s, names) {
  const block = h("div", { class: "pest-species", "data-testid": `pest-${s.species}`,
    "data-biofix": s.biofix || "", "data-above": s.pressure && s.pressure.above ? "1" : "0" });
  block.append(h("h4", {}, h("em", {}, names[s.species] || s.species)));
  block.append(h("p", {}, s.biofix
    ? t("zone.pest.biofix", { date: s.biofix, dd: number(s.degree_days, 0), rule: s.biofix_rule })
    : t("zone.pest.no-biofix", { rule: s.biofix_rule })));
  if (s.window) {
    const [start, end] = s.window;
    block.append(notice(t("zone.pest.window", { start: start.day || t("zone.pest.beyond"),
      end: end.day || t("zone.pest.beyond"), from: tr("pest-stage", start.name), to: tr("pest-stage", end.name) })));
  }
  if (s.stages.length) {
    block.append(table(["stage", "generation", "dd", "date", "basis"].map((k) => t(`zone.pest.${k}`)), stageRows(s),
      { "data-testid": `pest-stages-${s.species}` }));
  }
  if (s.pressure) block.append(pressureNote(s.pressure));
  if (s.missing.length) {
    block.append(h("p", { class: "muted small" }, t("zone.pest.missing", { what: s.missing.join(", ") })));
  }
  return block;
}

// The section, filled once its data is in.
export function pestSection(zoneId) {
  const section = h("section", { class: "card", "data-testid": "pest-forecast" }, h("h3", {}, t("zone.pest.title")));
  Promise.all([api(`/zones/${encodeURIComponent(zoneId)}/pests`), api("/pests/species")])
    .then(([seasons, species]) => {
      const names = Object.fromEntries(species.map((s) => [s.key, s.name]));
      if (!seasons.length) section.append(h("p", { class: "muted" }, t("zone.pest.none")));
      section.append(...seasons.map((s) => speciesBlock(s, names)));
      section.dataset.species = String(seasons.length);
      section.dataset.ready = "1";
    })
    .catch((e) => section.append(notice(e.message, "warn")));
  return section;
}
