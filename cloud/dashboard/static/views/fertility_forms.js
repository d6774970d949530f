// The zone page's fertility entry forms: a soil test (POST /zones/{zone}/soil-samples) and a fertiliser
// spread by hand (POST /zones/{zone}/fertility/applications, a product of the zone's site). The server checks
// and converts every value; its refusal, naming the field, is shown under the form.

import { api } from "../api.js";
import { h, notice } from "../dom.js";
import { t } from "../i18n.js";

export const RESULTS = ["ph", "organic_matter_g_kg", "alkali_n_mg_kg", "olsen_p_mg_kg", "available_k_mg_kg"];
const METHODS = ["broadcast", "band", "side-dress", "foliar", "other"]; // fertigation records itself

const input = (name, attrs = {}) => h("input", { name, "data-field": name, ...attrs });
const num = (name, attrs = {}) => input(name, { type: "number", step: "any", ...attrs });
const field = (label, el) => h("label", {}, label, el);
const orNull = (el) => (el.value === "" ? null : Number(el.value));

// A form that posts what `body()` makes, says so, and calls `saved()`; a refusal stays on the form.
function entryForm(testid, title, fields, post, body, saved) {
  const status = h("p", { class: "small", "data-testid": `${testid}-status` });
  const form = h("form", { class: "entry", "data-testid": testid }, h("h4", {}, title), h("div", { class: "fields" },
    fields), h("button", { type: "submit" }, t("fert.form.save")), status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await post(body());
      form.reset();
      status.replaceChildren(notice(t("fert.form.saved")));
      await saved();
    } catch (err) {
      status.replaceChildren(notice(err.message, "warn"));
    }
  });
  return form;
}

export function soilTestForm(zoneId, saved) {
  const el = {
    sampled_on: input("sampled_on", { type: "date", required: true }),
    lab: input("lab", { type: "text", required: true, maxlength: 64 }),
    lab_sample_id: input("lab_sample_id", { type: "text", maxlength: 64 }),
    point: input("point", { type: "text", maxlength: 40 }),
    lat: num("lat", { min: -90, max: 90 }),
    lon: num("lon", { min: -180, max: 180 }),
    depth_top_cm: num("depth_top_cm", { min: 0, max: 300, value: 0 }),
    depth_bottom_cm: num("depth_bottom_cm", { min: 0, max: 300, value: 20 }),
  };
  const results = Object.fromEntries(RESULTS.map((r) => [r, num(r, { min: 0 })]));
  const fields = [
    field(t("fert.form.sampled-on"), el.sampled_on), field(t("zone.fertility.col.lab"), el.lab),
    field(t("fert.form.lab-sample-id"), el.lab_sample_id), field(t("zone.fertility.col.point"), el.point),
    field(t("fert.form.lat"), el.lat), field(t("fert.form.lon"), el.lon),
    field(t("fert.form.depth-top"), el.depth_top_cm), field(t("fert.form.depth-bottom"), el.depth_bottom_cm),
    RESULTS.map((r) => field(t(`fert.result.${r}`), results[r]))];
  const body = () => ({
    sampled_on: el.sampled_on.value, lab: el.lab.value, lab_sample_id: el.lab_sample_id.value || null,
    point: el.point.value || null, lat: orNull(el.lat), lon: orNull(el.lon),
    depth_top_cm: orNull(el.depth_top_cm) ?? 0, depth_bottom_cm: orNull(el.depth_bottom_cm) ?? 20,
    results: Object.fromEntries(RESULTS.filter((r) => results[r].value !== "")
      .map((r) => [r, { value: Number(results[r].value) }])),
  });
  return entryForm("soil-test-form", t("fert.form.soil-test"), fields,
    (b) => api(`/zones/${encodeURIComponent(zoneId)}/soil-samples`, { method: "POST", body: b }), body, saved);
}

export function applicationForm(zoneId, products, saved) {
  const product = h("select", { name: "product_id", "data-field": "product_id", required: true },
    products.map((p) => h("option", { value: p.id }, `${p.name} (${p.id})`)));
  const method = h("select", { name: "method", "data-field": "method" },
    METHODS.map((m) => h("option", { value: m }, t(`fert.application.${m}`))));
  const el = {
    season: input("season", { type: "text", required: true, pattern: "\\d{4}(-[a-z0-9-]{1,20})?",
      value: String(new Date().getFullYear()) }),
    rate: num("rate_kg_ha", { min: 0, required: true }),
    area: num("area_ha", { min: 0 }),
    applied_on: input("applied_on", { type: "date", required: true }),
    note: input("note", { type: "text", maxlength: 300 }),
  };
  const fields = [field(t("zone.fertility.col.product"), product), field(t("fert.form.rate"), el.rate),
    field(t("fert.form.area"), el.area), field(t("zone.fertility.col.method"), method),
    field(t("fert.form.applied-on"), el.applied_on), field(t("fert.form.season"), el.season),
    field(t("fert.form.note"), el.note)];
  const body = () => ({
    season: el.season.value, product_id: product.value, rate_kg_ha: Number(el.rate.value), area_ha: orNull(el.area),
    applied_on: el.applied_on.value, method: method.value, note: el.note.value || null,
  });
  return entryForm("application-form", t("fert.form.application"), fields,
    (b) => api(`/zones/${encodeURIComponent(zoneId)}/fertility/applications`, { method: "POST", body: b }), body,
    saved);
}

// A product of the farm (PUT /fertility/sites/{site}/products/{id}: a new one, or its analysis, price or stock
// strength changed); the stock strength (kg per litre of stock solution) is what lets it be fertigated.
export function productForm(siteId, saved) {
  const el = {
    id: input("id", { type: "text", required: true, pattern: "[a-z0-9][a-z0-9_.\\-]{0,31}" }),
    name: input("name", { type: "text", required: true, maxlength: 80 }),
    n_pct: num("n_pct", { min: 0, max: 82.3, value: 0 }),
    p2o5_pct: num("p2o5_pct", { min: 0, max: 100, value: 0 }),
    k2o_pct: num("k2o_pct", { min: 0, max: 100, value: 0 }),
    price_per_kg: num("price_per_kg", { min: 0, required: true }),
    stock_kg_per_l: num("stock_kg_per_l", { min: 0 }),
  };
  const fields = Object.entries(el).map(([k, e]) => field(t(`fert.product.${k}`), e));
  const body = () => ({
    id: el.id.value, name: el.name.value, n_pct: orNull(el.n_pct) ?? 0, p2o5_pct: orNull(el.p2o5_pct) ?? 0,
    k2o_pct: orNull(el.k2o_pct) ?? 0, price_per_kg: Number(el.price_per_kg.value),
    stock_kg_per_l: orNull(el.stock_kg_per_l),
  });
  return entryForm("product-form", t("fert.form.product"), fields,
    (b) => api(`/fertility/sites/${encodeURIComponent(siteId)}/products/${encodeURIComponent(b.id)}`,
      { method: "PUT", body: b }), body, saved);
}

// A top-dress through the irrigation (POST /zones/{zone}/fertility/fertigations): a product with a stock
// strength, its dose, the water run and the injection window in minutes; the server checks the zone's
// controller has an injector registered and that the dose fits the window at its rate.
export function fertigationForm(zoneId, products, saved) {
  const product = h("select", { name: "product_id", "data-field": "product_id", required: true },
    products.filter((p) => p.stock_kg_per_l).map((p) => h("option", { value: p.id }, `${p.name} (${p.id})`)));
  const el = {
    season: input("season", { type: "text", required: true, pattern: "\\d{4}(-[a-z0-9-]{1,20})?",
      value: String(new Date().getFullYear()) }),
    dose: num("dose_kg_ha", { min: 0, required: true }),
    run: num("run_min", { min: 1, required: true, value: 60 }),
    from: num("inject_from_min", { min: 0, required: true, value: 10 }),
    until: num("inject_until_min", { min: 1, required: true, value: 50 }),
  };
  const fields = [field(t("zone.fertility.col.product"), product), field(t("fert.form.dose"), el.dose),
    field(t("fert.form.run-min"), el.run), field(t("fert.form.inject-from"), el.from),
    field(t("fert.form.inject-until"), el.until), field(t("fert.form.season"), el.season)];
  const body = () => ({
    season: el.season.value, product_id: product.value, dose_kg_ha: Number(el.dose.value),
    duration_s: Math.round(Number(el.run.value) * 60), inject_from_s: Math.round(Number(el.from.value) * 60),
    inject_until_s: Math.round(Number(el.until.value) * 60),
  });
  return entryForm("fertigation-form", t("fert.form.fertigation"), fields,
    (b) => api(`/zones/${encodeURIComponent(zoneId)}/fertility/fertigations`, { method: "POST", body: b }), body,
    saved);
}
