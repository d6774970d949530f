// Commissioning one node: live raw and calibrated values as they arrive, the checklist, and
// the soil-sensor calibration helper (dry and wet points, or a fit over several points); an
// irrigation controller's fertigation injector (views/injector.js).

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { ago, num, time, unitOf } from "../fmt.js";
import { message, number, t, tr } from "../i18n.js";
import { injectorCard } from "./injector.js";
import { gapsCard } from "./node_gaps.js";

// An item's detail in the reader's words; when it was last heard as a time ago ("7 hr ago", not "24,942 s ago")
function detail(item, c) {
  if (item.detail_key === "check.last-heard" && c.last_seen_ms) return t("node.last-heard-ago", { ago: ago(c.last_seen_ms) });
  return message({ key: item.detail_key, params: item.detail_params }, item.detail);
}

export async function render(root, ctx) {
  const id = ctx.args[0];
  const q = encodeURIComponent(id);
  root.append(h("h1", {}, t("node.title", { node: id })), h("p", {}, h("a", { href: "#/nodes" }, t("node.back"))));
  const status = h("p", { class: "small muted", "data-testid": "updated" });
  const checks = h("div", {});
  const live = h("div", {});
  let latest = null;
  root.append(h("div", { class: "grid two" }, card(t("node.checklist"), checks), card(t("node.live"), status, live)));
  root.append(gapsCard(id));

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
      h("p", { class: c.ready ? "ok" : "warn", "data-testid": "ready" }, c.ready ? t("node.ready") : t("node.not-ready")),
      h("ul", { class: "checks" }, c.items.map((i) => h("li", { class: i.ok ? "ok" : "bad", "data-check": i.name, "data-ok": i.ok ? "1" : "0" },
        h("span", { class: "mark", "aria-label": i.ok ? t("node.passed") : t("node.failed") }, i.ok ? "✓" : "✗"), " ",
        h("strong", {}, t(`check-item.${i.name}`)),
        h("div", { class: "small" }, detail(i, c))))));
    status.textContent = c.gateway ? t("node.updated-via", { at: time(Date.now()), ago: ago(c.last_seen_ms), gateway: c.gateway })
      : t("node.updated", { at: time(Date.now()), ago: ago(c.last_seen_ms) });
    const rows = [...c.live].sort((a, b) => (a.depth_cm ?? -1) - (b.depth_cm ?? -1) || a.measurement.localeCompare(b.measurement))
      .map((x) => {
        const range = x.measurement === "vwc_pct" ? c.plausible_range_pct[String(x.depth_cm)] : null;
        return h("tr", { "data-measurement": x.measurement, "data-depth": x.depth_cm ?? "" },
          h("td", {}, tr("measurement", x.measurement)),
          h("td", {}, x.depth_cm != null ? num(x.depth_cm, 0, "cm") : x.channel != null ? t("node.channel", { channel: x.channel }) : "—"),
          h("td", { class: x.fault ? "warn" : "" }, x.fault ? t("node.fault", { fault: tr("fault", x.fault) })
            : num(x.value, x.measurement === "soil_raw" ? 0 : 2, unitOf(x.measurement))),
          h("td", {}, x.calibrated_vwc_pct != null ? num(x.calibrated_vwc_pct, 2, "%") : ""),
          h("td", { class: "small" }, range ? t("node.range", { low: number(range[0]), high: number(range[1]) }) : ""),
          h("td", { class: "small" }, time(x.ts_ms)));
      });
    const zoneLink = c.role === "camera" && c.zone_id
      ? h("a", { href: `#/zone/${encodeURIComponent(c.zone_id)}`, "data-testid": "zone-photos" }, c.zone_id) : null;
    live.replaceChildren(rows.length ? table(["sensor", "where", "value", "calibrated", "plausible", "at"].map((k) => t(`node.col.${k}`)), rows)
      : c.role === "camera" ? h("p", { class: "notice info", "data-testid": "camera-photos" }, t("node.camera-photos"), " ", zoneLink)
        : notice(t("node.no-readings")));
  }
  await load();
  try {
    const injector = await injectorCard(id, ctx);
    if (injector) root.append(injector);
  } catch (err) {
    root.append(card(t("injector.title"), notice(err.message, "error")));
  }

  // only a soil node (or one not registered yet, which may be one) has probes to calibrate
  if (!latest?.role || latest.role === "soil") {
    root.append(card(t("calibration.title"), calibrationHelper(id, ctx, () => latest, load)));
  }

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
  const depth = h("select", { name: "depth", "aria-label": t("calibration.probe") },
    depths.map((d) => h("option", { value: String(d) }, t("calibration.probe-at", { depth: d }))),
    h("option", { value: "" }, t("calibration.every-probe")));
  const method = h("select", { name: "method", "aria-label": t("calibration.method") },
    ["two-point", "linear", "quadratic"].map((m) => h("option", { value: m }, t(`calibration.method.${m}`))));
  const rows = h("tbody", {});
  function addRow(raw = "", vwc = "") {
    const rawIn = h("input", { type: "number", step: "1", min: "0", max: "65535", value: raw, "aria-label": t("calibration.raw") });
    const vwcIn = h("input", { type: "number", step: "0.1", min: "0", max: "100", value: vwc, "aria-label": t("calibration.vwc") });
    const useLive = h("button", { type: "button", class: "secondary", "data-testid": "use-live-raw", onclick: () => {
      const want = depth.value === "" ? null : Number(depth.value);
      const r = (latest()?.live || []).find((x) => x.measurement === "soil_raw" && x.value != null &&
        (want === null || x.depth_cm === want));
      if (r) rawIn.value = r.value;
      else msg.replaceChildren(notice(want === null ? t("calibration.no-raw") : t("calibration.no-raw-at", { depth: want }), "warn"));
    } }, t("calibration.use-live"));
    const tr_ = h("tr", {}, h("td", {}, rawIn), h("td", {}, vwcIn), h("td", {}, useLive,
      h("button", { type: "button", class: "secondary", onclick: () => tr_.remove() }, t("calibration.remove"))));
    rows.append(tr_);
  }
  addRow();
  addRow();
  function points() {
    return [...rows.querySelectorAll("tr")].map((row) => {
      const [r, v] = row.querySelectorAll("input");
      return { raw: r.value === "" ? null : Number(r.value), vwc_pct: v.value === "" ? null : Number(v.value) };
    });
  }
  const coef = (v) => number(Number(v.toPrecision(6)), 6);
  async function fit(store) {
    msg.replaceChildren();
    try {
      const body = { method: method.value, points: points(), store };
      if (depth.value !== "") body.depth_cm = Number(depth.value);
      const out = await api(`/nodes/${encodeURIComponent(id)}/calibration`, { method: "POST", body });
      const c = out.coefficients;
      result.replaceChildren(
        h("p", { "data-testid": "fit" }, c.c2 ? t("calibration.fit-quadratic", { c0: coef(c.c0), c1: coef(c.c1), c2: coef(c.c2) })
          : t("calibration.fit-linear", { c0: coef(c.c0), c1: coef(c.c1) })),
        h("p", {}, t("calibration.rmse", { rmse: num(out.rmse_pct, 2), residuals: out.residuals_pct.map((r) => num(r, 2)).join(t("punct.list")) })),
        (out.warning_messages || []).map((w, i) => notice(message(w, out.warnings[i]), "warn")),
        notice(!out.stored ? t("calibration.preview") : out.depth_cm != null ? t("calibration.stored-probe", { depth: out.depth_cm })
          : t("calibration.stored-node"), out.stored ? "ok" : "info"));
      if (out.stored) await reload();
    } catch (err) {
      msg.replaceChildren(notice(err.message, "error"));
    }
  }
  return h("div", {},
    h("p", { class: "small muted" }, t("calibration.help")),
    h("div", { class: "filters" }, h("label", {}, t("calibration.probe"), depth), h("label", {}, t("calibration.method"), method)),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("calibration.raw")), h("th", {}, t("calibration.vwc")),
      h("th", {}))), rows)),
    h("button", { type: "button", class: "secondary", onclick: () => addRow() }, t("calibration.add-point")), " ",
    h("button", { type: "button", "data-testid": "preview-calibration", onclick: () => fit(false) }, t("calibration.preview-button")), " ",
    ctx.can("registry") ? h("button", { type: "button", "data-testid": "save-calibration", onclick: () => fit(true) }, t("calibration.save"))
      : h("span", { class: "small muted" }, t("calibration.technicians-only", { role: t(`role.${ctx.session.role}`) })),
    msg, result);
}
