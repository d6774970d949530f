// The zone page's soil fertility: the zone's soil tests and their map, its newest fertiliser recommendation
// with its explanation, and the applications recorded (GET /zones/{zone}/soil-samples, .../soil-map,
// .../fertility/recommendations, .../fertility/applications; the methods are cloud/agronomy/fertility*.py's,
// docs/fertility.md); for agronomists, the forms to enter a soil test and an application (fertility_forms.js).

import { api } from "../api.js";
import { h, notice, table } from "../dom.js";
import { dateTime } from "../fmt.js";
import { messages, number, t, tr } from "../i18n.js";
import { RESULTS, applicationForm, fertigationForm, productForm, soilTestForm } from "./fertility_forms.js";
import { soilMap } from "./soil_map.js";

const value = (v, digits = null) => (v === null || v === undefined ? "—" : number(v, digits));

// The zone's site, and its products (for the application and fertigation forms).
async function siteProducts(zone) {
  const f = await api(`/registry/fields/${encodeURIComponent(zone.field_id)}`);
  return [f.site_id, await api(`/fertility/sites/${encodeURIComponent(f.site_id)}/products`)];
}

// The section, filled once its data is in, and again after each entry is saved.
export function fertilitySection(zone, ctx) {
  const section = h("section", { class: "card", "data-testid": "fertility" }, h("h3", {}, t("zone.fertility")));
  const body = h("div", {});
  const z = encodeURIComponent(zone.id);
  // the products' names for the recommendation's mixes (its products are named by id); without them, the ids
  const names = () => siteProducts(zone).then(([, products]) => Object.fromEntries(products.map((p) => [p.id, p.name])))
    .catch(() => ({}));
  const load = () => Promise.all([api(`/zones/${z}/soil-samples`), api(`/zones/${z}/fertility/recommendations?limit=1`),
    api(`/zones/${z}/fertility/applications`), api("/commands?limit=500"), names()])
    .then(([samples, recs, apps, cmds, named]) => fill(section, body, zone.id, samples, recs[0] || null, apps,
      cmds.filter((c) => c.action === "fertigate" && c.zone === zone.id), named))
    .catch((e) => {
      body.replaceChildren(notice(e.message, "warn"));
      section.dataset.ready = "1";
    });
  section.append(body);
  if (ctx.can("plan")) {
    const forms = h("div", { class: "grid two", "data-testid": "fertility-forms" }, soilTestForm(zone.id, load));
    section.append(forms);
    // the product and fertigation forms are remade with the products after a product is saved
    const more = h("div", { class: "grid two", "data-testid": "fertility-forms-more" });
    const withProducts = () => siteProducts(zone).then(([site, products]) => {
      forms.replaceChildren(forms.firstChild, applicationForm(zone.id, products, load));
      more.replaceChildren(productForm(site, withProducts), fertigationForm(zone.id, products, load));
    }).catch((e) => forms.append(notice(e.message, "warn")));
    section.append(more);
    withProducts();
  }
  load();
  return section;
}

function soilTests(samples) {
  const box = h("div", { "data-testid": "soil-tests" }, h("h4", {}, t("zone.fertility.soil-tests")));
  if (!samples.length) {
    box.append(h("p", { class: "muted" }, t("zone.fertility.no-soil-tests")));
    return box;
  }
  const newest = [...samples].reverse(); // oldest first from the API; the newest matter most here
  // each column with as many decimals as its most precise value (up to 2), so 14.0 sits above 13.8, not 14
  const decimals = (v) => (v === null || v === undefined ? 0 : Math.min(2, (String(v).split(".")[1] || "").length));
  const digits = Object.fromEntries(RESULTS.map((r) => [r, Math.max(0, ...samples.map((s) => decimals(s.results[r])))]));
  box.append(table([t("zone.fertility.col.date"), t("zone.fertility.col.point"), t("zone.fertility.col.lab"),
    ...RESULTS.map((r) => t(`fert.result.${r}`))],
  newest.map((s) => h("tr", {}, h("td", {}, s.sampled_on), h("td", {}, s.point || "—"), h("td", {}, s.lab),
    RESULTS.map((r) => h("td", { class: "num" }, value(s.results[r], digits[r])))))));
  return box;
}

function recommendation(rec, named) {
  const box = h("div", { "data-testid": "recommendation" });
  if (!rec) {
    box.append(h("h4", {}, t("zone.fertility.recommendation-none-title")),
      h("p", { class: "muted" }, t("zone.fertility.no-recommendation")));
    return box;
  }
  box.append(h("h4", {}, t("zone.fertility.recommendation", { season: rec.season, target: rec.target_yield_kg_ha })),
    table([t("zone.fertility.col.nutrient"), t("zone.fertility.col.rate"), t("zone.fertility.col.method")],
      rec.needs.map((n) => h("tr", {}, h("td", {}, n.nutrient), h("td", { class: "num" }, value(n.rate_kg_ha, 1)),
        h("td", {}, tr("fert.method", n.method))))),
    table([t("zone.fertility.col.application"), t("zone.fertility.col.products"), t("zone.fertility.col.cost")],
      rec.applications.map((a) => h("tr", { "data-kind": a.kind }, h("td", {}, tr("kind", a.kind)),
        h("td", {}, a.feasible ? Object.entries(a.products_kg_ha).map(([p, kg]) => `${named[p] || p} ${number(kg, 1)}`)
          .join(t("punct.list")) : "—"),
        h("td", { class: "num" }, a.feasible ? number(a.cost_per_ha, 2) : "—")))),
    h("p", { class: "small", "data-testid": "fertility-explanation" }, messages(rec.messages, rec.explanation)));
  return box;
}

function applications(apps) {
  const box = h("div", { "data-testid": "applications" }, h("h4", {}, t("zone.fertility.applications")));
  if (!apps.length) {
    box.append(h("p", { class: "muted" }, t("zone.fertility.no-applications")));
    return box;
  }
  box.append(table([t("zone.fertility.col.date"), t("zone.fertility.col.product"), t("zone.fertility.col.rate"),
    t("zone.fertility.col.method"), t("zone.fertility.col.by")],
  [...apps].reverse().map((a) => h("tr", { "data-flagged": a.volume_flag ? "1" : "0" }, h("td", {}, a.applied_on),
    h("td", {}, a.product_name), suspect(number(a.rate_kg_ha, 1), a.volume_flag),
    h("td", {}, tr("fert.application", a.method)), h("td", {}, who(a.by))))));
  return box;
}

// A number cell; a fertigation whose reported volume is beyond its dose plus one tick of the pump says so
// (the server's reason, naming the volumes and the rate, in its title).
function suspect(text, flag) {
  return h("td", { class: flag ? "num warn" : "num", title: flag || null }, text,
    flag ? h("div", { class: "small" }, t("zone.fertility.volume-suspect")) : null);
}

// The zone's fertigate commands, newest first: their state, and the stock solution asked and injected.
function fertigations(cmds) {
  const box = h("div", { "data-testid": "fertigations" }, h("h4", {}, t("zone.fertility.fertigations")));
  if (!cmds.length) {
    box.append(h("p", { class: "muted" }, t("zone.fertility.no-fertigations")));
    return box;
  }
  box.append(table([t("zone.fertility.col.date"), t("zone.fertility.col.state"), t("zone.fertility.col.inject-ml"),
    t("zone.fertility.col.injected-ml")],
  cmds.map((c) => h("tr", { "data-state": c.state, "data-flagged": c.injected_flag ? "1" : "0" },
    h("td", {}, dateTime(c.created_ms)),
    h("td", {}, tr("command_state", c.state) + (c.reason ? ` (${c.reason})` : "")),
    h("td", { class: "num" }, value(c.inject_ml)), suspect(value(c.injected_ml), c.injected_flag)))));
  return box;
}

// Who recorded it: the person's name (the API stores "person:NAME")
const who = (by) => String(by || "—").replace(/^person:/, "");

function fill(section, body, zoneId, samples, rec, apps, cmds, named) {
  body.replaceChildren(soilTests(samples), soilMap(zoneId), recommendation(rec, named), applications(apps),
    fertigations(cmds));
  Object.assign(section.dataset, { samples: String(samples.length), applications: String(apps.length),
    fertigations: String(cmds.length), recommendation: rec ? String(rec.id) : "", ready: "1" });
}
