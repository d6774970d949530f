// Production progress (issue 20, docs/machinery.md section 4): per crop, the area its zones cover, the area
// planted (the sowing operations' covered ground inside them: not typed twice) and each kind of work's share;
// per field, each kind's covered hectares and share; the harvest from the combines' yield monitor logs (mass
// and yield at standard moisture). Live: recorded work updates them.

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { num } from "../fmt.js";
import { t, tr } from "../i18n.js";
import { KINDS, fieldTable } from "./machinery.js";

function cropTable(crops) {
  const kinds = KINDS.filter((k) => k !== "sowing" && crops.crops.some((c) => c.kinds.some((x) => x.kind === k)));
  return table([t("progress.col.crop"), t("progress.col.zones"), t("machinery.col.area"), t("progress.col.planted"),
    ...kinds.map((k) => t(`machinery.kind.${k}`))],
  crops.crops.map((c) => h("tr", { "data-crop": c.crop },
    h("td", {}, tr("crop", c.crop)), h("td", {}, String(c.zones)), h("td", {}, num(c.area_ha, 2, t("unit.ha"))),
    h("td", { "data-planted": String(c.planted_pct) }, t("progress.share", { ha: num(c.planted_ha, 2, t("unit.ha")),
      pct: num(c.planted_pct, 1, "%") })),
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

export async function render(root, ctx) {
  root.append(h("h1", {}, t("progress.title")));
  const cropBox = h("div", {});
  const fieldBox = h("div", {});
  const harvestBox = h("div", {});
  root.append(card(t("progress.crops.title"), cropBox), card(t("machinery.fields.title"), fieldBox),
    card(t("progress.harvest.title"), harvestBox));
  const load = async () => {
    const [crops, fields, logs] = await Promise.all([api("/progress/crops"), api("/registry/fields"), api("/yield-logs")]);
    const progress = {};
    await Promise.all(fields.filter((f) => f.boundary).map(async (f) => {
      progress[f.id] = await api(`/fields/${encodeURIComponent(f.id)}/progress`);
    }));
    cropBox.replaceChildren(crops.crops.length ? cropTable(crops) : notice(t("progress.no-crops")),
      crops.zones_without_boundary.length
        ? h("p", { class: "small muted" }, t("progress.zones-without-boundary", { n: crops.zones_without_boundary.length }))
        : "");
    fieldBox.replaceChildren(fields.length ? fieldTable(fields, progress) : notice(t("machinery.no-fields")));
    harvestBox.replaceChildren(logs.length ? harvestTable(logs, Object.fromEntries(fields.map((f) => [f.id, f])))
      : notice(t("progress.harvest.none")));
  };
  await load();
  ctx.on("operation", () => load());
}
