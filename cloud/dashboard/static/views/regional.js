// The regional page (docs/regional.md), for a regional user (an extension service, a county bureau): a region's
// aggregates over the farms that share their data, per sub-region and crop, for a season; cells of too few farms
// are shown withheld with the reason, never their figures. Below it, the region's open datasets: publish the
// table (after the service's privacy check), their files and DCAT record, and withdrawal.
// #/regional?season=2026&region=65/01

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { dateTime, num } from "../fmt.js";
import { t, tr } from "../i18n.js";

const ALL = "*"; // cloud/regional/service.py: every crop together
// The figures of a cell (cloud/regional/models.py RegionalCell), each with its header key and decimals.
const FIGURES = [
  ["area_ha", "regional.area", 1], ["planted_ha", "regional.planted", 1],
  ["harvested_area_ha", "regional.harvested-area", 1], ["harvested_kg", "regional.harvest", 1],
  ["water_m3", "regional.water", 0], ["alerts_open", "regional.alerts", 0],
];
// expected yield (FAO-33, issue 20) shows once the service gives it
const EXPECTED = ["expected_yield_t", "regional.expected-yield", 1];

const enc = encodeURIComponent;
const link = (season, region) => `#/regional?season=${enc(season)}&region=${enc(region)}`;
const cropName = (crop) => (crop === ALL ? t("regional.all-crops") : tr("crop", crop));

function figure(cell, [name, , digits]) {
  const v = cell[name];
  if (name === "harvested_kg") return num(v == null ? v : v / 1000, digits); // tonnes
  return num(v, digits);
}

function pest(cell) {
  return t("regional.pest-value", { over: num(cell.pest_farms_over, 0), farms: num(cell.farms, 0),
    zones: num(cell.pest_zones_over, 0) });
}

function cellsTable(view, season) {
  const expected = view.cells.some((c) => c[EXPECTED[0]] != null);
  const figures = expected ? [...FIGURES, EXPECTED] : FIGURES;
  const headers = [t("regional.region"), t("regional.crop"), t("regional.farms"),
    ...figures.map(([, key]) => t(key)), t("regional.pest")];
  const rows = view.cells.map((c) => {
    const own = c.region === view.region;
    const where = own ? c.region : h("a", { href: link(season, c.region) }, c.region);
    const attrs = { "data-region": c.region, "data-crop": c.crop, class: own ? "total" : "" };
    if (c.withheld) {
      return h("tr", { ...attrs, "data-withheld": c.withheld }, h("td", {}, where), h("td", {}, cropName(c.crop)),
        h("td", { colspan: figures.length + 2, class: "muted withheld" },
          t(`regional.withheld.${c.withheld}`, { k: view.min_farms })));
    }
    return h("tr", attrs, h("td", {}, where), h("td", {}, cropName(c.crop)), h("td", {}, num(c.farms, 0)),
      ...figures.map((f) => h("td", { "data-figure": f[0] }, figure(c, f))), h("td", { "data-figure": "pest" }, pest(c)));
  });
  return table(headers, rows, { "data-testid": "regional-cells" });
}

function picker(season, region) {
  const seasonIn = h("input", { name: "season", value: season, required: true, size: 8 });
  const regionIn = h("input", { name: "region", value: region, size: 20 });
  const form = h("form", { class: "entry", "data-testid": "regional-pick" },
    h("div", { class: "fields" },
      h("label", {}, t("regional.season"), seasonIn), h("label", {}, t("regional.region-code"), regionIn)),
    h("button", { type: "submit" }, t("regional.show")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = link(seasonIn.value.trim(), regionIn.value.trim());
  });
  return form;
}

async function datasets(season, region) {
  const list = h("div", { "data-testid": "datasets" });
  const message = h("p", { class: "small", "data-testid": "dataset-status" });

  async function refresh() {
    const rows = await api("/regional/datasets");
    if (!rows.length) {
      list.replaceChildren(notice(t("regional.no-datasets")));
      return;
    }
    list.replaceChildren(table([t("regional.dataset"), t("regional.region"), t("regional.season"),
      t("regional.issued"), t("regional.files"), t("regional.status")], rows.map((d) => {
      const files = Object.entries(d.files).map(([name, url]) =>
        h("a", { href: url, target: "_blank", rel: "noopener", "data-file": name }, t(`regional.file.${name}`)));
      let status;
      if (d.withdrawn_ms) {
        status = t("regional.withdrawn-by", { by: d.withdrawn_by, when: dateTime(d.withdrawn_ms) }) +
          (d.withdrawn_reason ? t("punct.clause") + d.withdrawn_reason : "");
      } else {
        const reason = h("input", { name: "reason", placeholder: t("regional.reason"), size: 16 });
        const withdraw = h("button", { type: "button", class: "secondary", "data-testid": "withdraw" },
          t("regional.withdraw"));
        withdraw.addEventListener("click", async () => {
          try {
            const q = reason.value.trim() ? `?reason=${enc(reason.value.trim())}` : "";
            await api(`/regional/datasets/${enc(d.id)}${q}`, { method: "DELETE" });
            message.replaceChildren(notice(t("regional.withdrawn")));
            await refresh();
          } catch (err) {
            message.replaceChildren(notice(err.message, "warn"));
          }
        });
        status = h("span", {}, t("regional.published-by", { by: d.by }), " ", reason, " ", withdraw);
      }
      return h("tr", { "data-dataset": d.id, "data-withdrawn": d.withdrawn_ms ? "1" : "0" },
        h("td", {}, d.title), h("td", {}, d.region), h("td", {}, d.season), h("td", {}, dateTime(d.issued_ms)),
        h("td", {}, files.flatMap((a, i) => (i ? [" · ", a] : [a]))), h("td", {}, status));
    }), { "data-testid": "dataset-list" }));
  }

  const title = h("input", { name: "title", size: 40, maxlength: 200 });
  const description = h("textarea", { name: "description", rows: 2, cols: 60, maxlength: 4000 });
  const form = h("form", { class: "entry", "data-testid": "publish-form" },
    h("p", { class: "small muted" }, t("regional.publish-help", { region, season })),
    h("div", { class: "fields" }, h("label", {}, t("regional.title-label"), title),
      h("label", {}, t("regional.description-label"), description)),
    h("button", { type: "submit", "data-testid": "publish" }, t("regional.publish")), message);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { season, region };
    if (title.value.trim()) body.title = title.value.trim();
    if (description.value.trim()) body.description = description.value.trim();
    try {
      await api("/regional/datasets", { method: "POST", body });
      message.replaceChildren(notice(t("regional.published")));
      title.value = description.value = "";
      await refresh();
    } catch (err) {
      message.replaceChildren(notice(err.message, "warn"));
    }
  });
  await refresh();
  const section = card(t("regional.datasets"), form, list,
    h("p", { class: "small muted" }, t("regional.catalogue"), " ",
      h("a", { href: "/open-data", target: "_blank", rel: "noopener", "data-testid": "catalogue" }, t("regional.catalogue-link"))));
  section.dataset.testid = "open-datasets";
  return section;
}

export async function render(root, ctx) {
  root.append(h("h2", {}, t("regional.title")), h("p", { class: "small muted" }, t("regional.help")));
  if (ctx.session.role !== "regional") {
    root.append(notice(t("regional.regional-only", { role: t(`role.${ctx.session.role}`) })));
    return;
  }
  const season = ctx.params.get("season") || String(new Date().getFullYear());
  const asked = ctx.params.get("region") || "";
  let view;
  try {
    view = await api(`/regional?season=${enc(season)}${asked ? `&region=${enc(asked)}` : ""}`);
  } catch (err) {
    if (err.status !== 404) throw err;
    root.append(picker(season, asked), notice(t("regional.no-region", { region: asked || "—" }), "warn"));
    return;
  }
  const parent = view.region.includes("/") ? view.region.slice(0, view.region.lastIndexOf("/")) : null;
  root.append(picker(season, view.region),
    h("p", {}, t("regional.showing", { region: view.region, season, k: view.min_farms }),
      parent ? [" ", h("a", { href: link(season, parent), "data-testid": "up" }, t("regional.up", { region: parent }))] : []),
    cellsTable(view, season),
    h("p", { class: "small muted" }, t("regional.pest-help")),
    await datasets(season, view.region));
}
