// Production progress (issue 20, docs/machinery.md section 4): per crop, the area its zones cover, the area
// planted (the sowing operations' covered ground inside them: not typed twice) and each kind of work's share;
// per field, each kind's covered hectares and share. Live: recorded work updates both.

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

export async function render(root, ctx) {
  root.append(h("h1", {}, t("progress.title")));
  const cropBox = h("div", {});
  const fieldBox = h("div", {});
  root.append(card(t("progress.crops.title"), cropBox), card(t("machinery.fields.title"), fieldBox));
  const load = async () => {
    const [crops, fields] = await Promise.all([api("/progress/crops"), api("/registry/fields")]);
    const progress = {};
    await Promise.all(fields.filter((f) => f.boundary).map(async (f) => {
      progress[f.id] = await api(`/fields/${encodeURIComponent(f.id)}/progress`);
    }));
    cropBox.replaceChildren(crops.crops.length ? cropTable(crops) : notice(t("progress.no-crops")),
      crops.zones_without_boundary.length
        ? h("p", { class: "small muted" }, t("progress.zones-without-boundary", { n: crops.zones_without_boundary.length }))
        : "");
    fieldBox.replaceChildren(fields.length ? fieldTable(fields, progress) : notice(t("machinery.no-fields")));
  };
  await load();
  ctx.on("operation", () => load());
}
