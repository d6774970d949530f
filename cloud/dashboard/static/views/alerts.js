// Alerts: filter by state and severity, acknowledge one with a note (the person is recorded
// by the server from the token).

import { api, optional } from "../api.js";
import { h, notice, table } from "../dom.js";
import { dateTime } from "../fmt.js";

const SEVERITIES = ["info", "warning", "critical"];
const STATES = ["open", "acknowledged", "resolved", "all"];

export function alertList(alerts, ctx, { compact = false, onChange } = {}) {
  if (!alerts.length) return h("p", { class: "muted", "data-testid": "no-alerts" }, "No alerts.");
  const rows = alerts.map((a) => {
    const msg = h("span", {});
    const ackCell = a.acknowledged_by
      ? h("span", { class: "small" }, `acknowledged by ${a.acknowledged_by}, ${dateTime(a.acknowledged_ms)}`)
      : a.resolved_ms ? h("span", { class: "small muted" }, `resolved ${dateTime(a.resolved_ms)}`)
      : ackForm(a, msg, onChange);
    return h("tr", { class: `sev-${a.severity}`, "data-alert": a.id },
      h("td", {}, h("span", { class: `badge sev-${a.severity}` }, a.severity)),
      h("td", {}, a.zone ? h("a", { href: `#/zone/${encodeURIComponent(a.zone)}` }, a.zone) : a.subject),
      h("td", {}, a.message, compact ? null : h("div", { class: "small muted" }, a.kind)),
      h("td", { class: "small" }, dateTime(a.first_ms)),
      compact ? null : h("td", {}, ackCell, msg));
  });
  return table(["", "where", "what", "since (local)", compact ? null : "acknowledge"].filter((x) => x !== null), rows);
}

function ackForm(a, msg, onChange) {
  const note = h("input", { placeholder: "note (optional)", maxlength: 400, "aria-label": "note" });
  return h("form", {
    class: "inline",
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api(`/alerts/${a.id}/ack`, { method: "POST", body: { note: note.value || null } });
        onChange?.();
      } catch (err) {
        msg.replaceChildren(notice(err.message, "error"));
      }
    },
  }, note, h("button", { type: "submit" }, "Acknowledge"));
}

export async function render(root, ctx) {
  const state = ctx.params.get("state") || "open";
  const severity = ctx.params.get("severity") || "";
  const go = (s, v) => {
    location.hash = `#/alerts?state=${s}${v ? `&severity=${v}` : ""}`;
  };
  const stateSel = h("select", { "aria-label": "state", onchange: (e) => go(e.target.value, severity) },
    STATES.map((s) => h("option", { value: s, selected: s === state }, s)));
  const sevSel = h("select", { "aria-label": "severity", onchange: (e) => go(state, e.target.value) },
    h("option", { value: "" }, "any severity"),
    SEVERITIES.map((s) => h("option", { value: s, selected: s === severity }, `${s} and above`)));
  const body = h("div", {});
  root.append(h("h1", {}, "Alerts"), h("div", { class: "filters" }, stateSel, sevSel), body);
  async function load() {
    const r = await optional(`/alerts?state=${state}&limit=200${severity ? `&severity=${severity}` : ""}`);
    body.replaceChildren(r.missing ? notice("Alerts are not available on this server yet.", "warn")
      : r.error ? notice(r.error.message, "error") : alertList(r.data, ctx, { onChange: load }));
  }
  await load();
  ctx.on("alert", load);
}
