// Commissioning one node: live raw and calibrated values as they arrive, the checklist, and
// the soil-sensor calibration helper (dry and wet points, or a fit over several points).

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { ago, num, time, UNITS } from "../fmt.js";

export async function render(root, ctx) {
  const id = ctx.args[0];
  const q = encodeURIComponent(id);
  root.append(h("h1", {}, `Commissioning · ${id}`), h("p", {}, h("a", { href: "#/nodes" }, "← nodes")));
  const status = h("p", { class: "small muted", "data-testid": "updated" });
  const checks = h("div", {});
  const live = h("div", {});
  let latest = null;
  root.append(h("div", { class: "grid two" }, card("Checklist", checks), card("Live values", status, live)));

  async function load() {
    let c;
    try {
      c = await api(`/nodes/${q}/commissioning`);
    } catch (err) {
      checks.replaceChildren(notice(err.message, "error"));
      return;
    }
    latest = c;
    checks.replaceChildren(
      h("p", { class: c.ready ? "ok" : "warn", "data-testid": "ready" }, c.ready ? "Ready: every check passes." : "Not ready yet."),
      h("ul", { class: "checks" }, c.items.map((i) => h("li", { class: i.ok ? "ok" : "bad", "data-check": i.name, "data-ok": i.ok ? "1" : "0" },
        h("span", { class: "mark", "aria-label": i.ok ? "passed" : "failed" }, i.ok ? "✓" : "✗"), " ", h("strong", {}, i.name.replaceAll("_", " ")),
        h("div", { class: "small" }, i.detail)))));
    status.textContent = `Updated ${time(Date.now())}; last heard ${ago(c.last_seen_ms)}${c.gateway ? ` via ${c.gateway}` : ""}.`;
    const rows = [...c.live].sort((a, b) => (a.depth_cm ?? -1) - (b.depth_cm ?? -1) || a.measurement.localeCompare(b.measurement))
      .map((x) => {
        const range = x.measurement === "vwc_pct" ? c.plausible_range_pct[String(x.depth_cm)] : null;
        return h("tr", { "data-measurement": x.measurement, "data-depth": x.depth_cm ?? "" },
          h("td", {}, x.measurement), h("td", {}, x.depth_cm != null ? `${x.depth_cm} cm` : x.channel != null ? `ch ${x.channel}` : "—"),
          h("td", { class: x.fault ? "warn" : "" }, x.fault ? `fault: ${x.fault}` : num(x.value, x.measurement === "soil_raw" ? 0 : 2, UNITS[x.measurement] || "")),
          h("td", {}, x.calibrated_vwc_pct != null ? num(x.calibrated_vwc_pct, 2, "%") : ""),
          h("td", { class: "small" }, range ? `${range[0]}–${range[1]} %` : ""),
          h("td", { class: "small" }, time(x.ts_ms)));
      });
    live.replaceChildren(rows.length ? table(["sensor", "where", "value", "by stored fit", "plausible", "at"], rows)
      : notice("No readings yet: power the node and wait for its first report."));
  }
  await load();

  root.append(card("Soil sensor calibration", calibrationHelper(id, ctx, () => latest, load)));

  let pending = null;
  ctx.on("reading", (ev) => {
    if (!(ev.nodes || []).some((n) => n.node === id)) return;
    pending ||= setTimeout(async () => {
      pending = null;
      await load();
    }, 250);
  });
  return () => clearTimeout(pending);
}

function calibrationHelper(id, ctx, latest, reload) {
  const msg = h("div", {});
  const result = h("div", { "data-testid": "calibration-result" });
  // Each probe sits in its own soil layer and is calibrated on its own; "every probe" stores a
  // node-wide fit that applies where a probe has none of its own.
  const depths = [...new Set([...Object.keys(latest()?.plausible_range_pct || {}).map(Number),
    ...(latest()?.live || []).filter((x) => x.measurement === "soil_raw").map((x) => x.depth_cm)])]
    .filter((d) => d !== null && !Number.isNaN(d)).sort((a, b) => a - b);
  const depth = h("select", { name: "depth", "aria-label": "probe depth" },
    depths.map((d) => h("option", { value: String(d) }, `probe at ${d} cm`)),
    h("option", { value: "" }, "every probe (node-wide)"));
  const method = h("select", { name: "method", "aria-label": "method" },
    h("option", { value: "two-point" }, "two-point: dry and wet"),
    h("option", { value: "linear" }, "linear fit (2+ points)"),
    h("option", { value: "quadratic" }, "quadratic fit (3+ points, this soil)"));
  const rows = h("tbody", {});
  function addRow(raw = "", vwc = "") {
    const rawIn = h("input", { type: "number", step: "1", min: "0", max: "65535", value: raw, "aria-label": "raw count" });
    const vwcIn = h("input", { type: "number", step: "0.1", min: "0", max: "100", value: vwc, "aria-label": "vwc %" });
    const useLive = h("button", { type: "button", class: "secondary", onclick: () => {
      const want = depth.value === "" ? null : Number(depth.value);
      const r = (latest()?.live || []).find((x) => x.measurement === "soil_raw" && x.value != null &&
        (want === null || x.depth_cm === want));
      if (r) rawIn.value = r.value;
      else msg.replaceChildren(notice(`No raw count from this node${want === null ? "" : ` at ${want} cm`} yet.`, "warn"));
    } }, "use live raw");
    const tr = h("tr", {}, h("td", {}, rawIn), h("td", {}, vwcIn), h("td", {}, useLive,
      h("button", { type: "button", class: "secondary", onclick: () => tr.remove() }, "remove")));
    rows.append(tr);
  }
  addRow();
  addRow();
  function points() {
    return [...rows.querySelectorAll("tr")].map((tr) => {
      const [r, v] = tr.querySelectorAll("input");
      return { raw: r.value === "" ? null : Number(r.value), vwc_pct: v.value === "" ? null : Number(v.value) };
    });
  }
  async function fit(store) {
    msg.replaceChildren();
    try {
      const body = { method: method.value, points: points(), store };
      if (depth.value !== "") body.depth_cm = Number(depth.value);
      const out = await api(`/nodes/${encodeURIComponent(id)}/calibration`, { method: "POST", body });
      const c = out.coefficients;
      result.replaceChildren(
        h("p", {}, `vwc % = ${c.c0.toPrecision(6)} + ${c.c1.toPrecision(6)} × raw` + (c.c2 ? ` + ${c.c2.toPrecision(6)} × raw²` : "")),
        h("p", {}, `RMSE ${num(out.rmse_pct, 2, "%")} · residuals ${out.residuals_pct.map((r) => num(r, 2)).join(", ")} %`),
        out.warnings.map((w) => notice(w, "warn")),
        notice(out.stored ? `Stored on the node's registry entry${out.depth_cm != null ? ` for the probe at ${out.depth_cm} cm` : " for every probe"}.`
          : "Not stored (preview).", out.stored ? "ok" : "info"));
      if (out.stored) await reload();
    } catch (err) {
      msg.replaceChildren(notice(err.message, "error"));
    }
  }
  return h("div", {},
    h("p", { class: "small muted" }, "Read the probe in dry soil and in wet soil (two-point), or at several water contents " +
      "measured another way (e.g. gravimetric samples) for a fit in this soil."),
    h("div", { class: "filters" }, h("label", {}, "Probe", depth), h("label", {}, "Method", method)),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "raw count"), h("th", {}, "VWC (%)"), h("th", {}))), rows)),
    h("button", { type: "button", class: "secondary", onclick: () => addRow() }, "add point"), " ",
    h("button", { type: "button", onclick: () => fit(false) }, "Fit (preview)"), " ",
    ctx.can("registry") ? h("button", { type: "button", "data-testid": "save-calibration", onclick: () => fit(true) }, "Fit and save")
      : h("span", { class: "small muted" }, `Saving a calibration is for technicians; you are ${ctx.session.role}.`),
    msg, result);
}
