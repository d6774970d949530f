// An irrigation controller's fertigation injector on its commissioning page: what is registered (the dosing
// pump's calibrated rate, the line-EC band its firmware keeps, the calibration's day) and, for technicians
// and admins, the form that registers or recalibrates it (PUT /fertility/injectors/{node}). The server checks
// every value; its refusal, naming the field, stays under the form. A fertigation is sized at this rate.

import { api } from "../api.js";
import { card, h, notice } from "../dom.js";
import { dateTime, num } from "../fmt.js";
import { t } from "../i18n.js";

const orNull = (el) => (el.value === "" ? null : Number(el.value));

// The card, or null when the node is not an irrigation controller (only one drives an injector).
export async function injectorCard(id, ctx) {
  const [nodes, injectors] = await Promise.all([api("/registry/nodes"), api("/fertility/injectors")]);
  if (nodes.find((n) => n.id === id)?.role !== "irrigation") return null;
  const shown = h("div", {});
  const section = card(t("injector.title"), h("p", { class: "small muted" }, t("injector.help")), shown);
  section.dataset.testid = "injector";
  let current = injectors.find((i) => i.node_id === id) || null;

  function show() {
    section.dataset.registered = current ? "1" : "0";
    section.dataset.rate = current ? String(current.rate_l_h) : "";
    if (!current) {
      shown.replaceChildren(notice(t("injector.none"), "warn"));
      return;
    }
    const band = current.ec_band_ds_m;
    shown.replaceChildren(h("dl", { class: "facts", "data-testid": "injector-registered" },
      h("dt", {}, t("injector.pump-rate")), h("dd", { "data-field": "rate_l_h" }, num(current.rate_l_h, 1, "L/h")),
      h("dt", {}, t("injector.band")), h("dd", { "data-field": "ec_band_ds_m" }, band
        ? t("injector.band-value", { low: num(band[0], 2), high: num(band[1], 2) }) : t("injector.band-none")),
      h("dt", {}, t("injector.calibrated-on")), h("dd", { "data-field": "calibrated_on" }, current.calibrated_on || "—"),
      h("dt", {}, t("injector.note")), h("dd", {}, current.note || "—"),
      h("dt", {}, t("injector.updated")), h("dd", {}, t("injector.updated-by",
        { at: dateTime(current.updated_ms), by: current.by.replace(/^person:/, "") }))));
  }
  show();
  if (!ctx.can("registry")) {
    section.append(h("p", { class: "small muted" }, t("injector.technicians-only", { role: t(`role.${ctx.session.role}`) })));
    return section;
  }

  const input = (name, attrs) => h("input", { name, "data-field": name, ...attrs });
  const el = {
    rate: input("rate_l_h", { type: "number", step: "any", min: 0, required: true }),
    low: input("ec_low_ds_m", { type: "number", step: "any", min: 0 }),
    high: input("ec_high_ds_m", { type: "number", step: "any", min: 0 }),
    calibrated: input("calibrated_on", { type: "date" }),
    note: input("note", { type: "text", maxlength: 300 }),
  };
  const fill = () => {
    el.rate.value = current?.rate_l_h ?? "";
    el.low.value = current?.ec_band_ds_m?.[0] ?? "";
    el.high.value = current?.ec_band_ds_m?.[1] ?? "";
    el.calibrated.value = current?.calibrated_on ?? "";
    el.note.value = current?.note ?? "";
  };
  fill();
  const status = h("p", { class: "small", "data-testid": "injector-form-status" });
  const field = (label, e) => h("label", {}, label, e);
  const form = h("form", { class: "entry", "data-testid": "injector-form" },
    h("h4", {}, current ? t("injector.form.edit") : t("injector.form.register")),
    h("div", { class: "fields" }, field(t("injector.rate"), el.rate), field(t("injector.ec-low"), el.low),
      field(t("injector.ec-high"), el.high), field(t("injector.calibrated-on"), el.calibrated),
      field(t("injector.note"), el.note)),
    h("p", { class: "small muted" }, t("injector.form.help")),
    h("button", { type: "submit" }, t("fert.form.save")), status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const low = orNull(el.low);
    const high = orNull(el.high);
    if ((low === null) !== (high === null)) { // a band needs both ends, or neither (not checked)
      status.replaceChildren(notice(t("injector.form.band-both"), "warn"));
      return;
    }
    const body = { rate_l_h: orNull(el.rate), ec_band_ds_m: low === null ? null : [low, high],
      calibrated_on: el.calibrated.value || null, note: el.note.value || null };
    try {
      current = await api(`/fertility/injectors/${encodeURIComponent(id)}`, { method: "PUT", body });
      status.replaceChildren(notice(t("fert.form.saved")));
      form.querySelector("h4").textContent = t("injector.form.edit");
      show();
      fill();
    } catch (err) {
      status.replaceChildren(notice(err.message, "warn"));
    }
  });
  section.append(form);
  return section;
}
