// Alerts: filter by state and severity, acknowledge one with a note (the person is recorded
// by the server from the token). Each alert's text is its message key in the reader's language
// (its English text for an alert stored before keys).

import { api, optional } from "../api.js";
import { h, notice, table } from "../dom.js";
import { dateTime } from "../fmt.js";
import { message, t } from "../i18n.js";

const SEVERITIES = ["info", "warning", "critical"];
const STATES = ["open", "acknowledged", "resolved", "all"];

export function alertText(a) {
  return message({ key: a.message_key, params: a.message_params }, a.message);
}

export function alertList(alerts, ctx, { compact = false, onChange } = {}) {
  if (!alerts.length) return h("p", { class: "muted", "data-testid": "no-alerts" }, t("alerts.none"));
  const rows = alerts.map((a) => {
    const msg = h("span", {});
    const ackCell = a.acknowledged_by
      ? h("span", { class: "small" }, t("alerts.acknowledged-by", { by: a.acknowledged_by, at: dateTime(a.acknowledged_ms) }))
      : a.resolved_ms ? h("span", { class: "small muted" }, t("alerts.resolved-at", { at: dateTime(a.resolved_ms) }))
      : ackForm(a, msg, onChange);
    return h("tr", { class: `sev-${a.severity}`, "data-alert": a.id, "data-severity": a.severity },
      h("td", {}, h("span", { class: `badge sev-${a.severity}` }, t(`severity.${a.severity}`))),
      h("td", {}, a.zone ? h("a", { href: `#/zone/${encodeURIComponent(a.zone)}` }, a.zone) : a.subject),
      h("td", {}, h("span", { "data-testid": "alert-text" }, alertText(a)),
        compact ? null : h("div", { class: "small muted" }, t(`alert-kind.${a.kind}`))),
      h("td", { class: "small" }, dateTime(a.first_ms)),
      compact ? null : h("td", {}, ackCell, msg));
  });
  return table([t("alerts.col.severity"), t("alerts.col.where"), t("alerts.col.what"), t("alerts.col.since"),
    compact ? null : t("alerts.col.acknowledge")].filter((x) => x !== null), rows);
}

function ackForm(a, msg, onChange) {
  const note = h("input", { placeholder: t("alerts.note"), maxlength: 400, "aria-label": t("alerts.note") });
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
  }, note, h("button", { type: "submit", "data-testid": "acknowledge" }, t("alerts.acknowledge")));
}

export async function render(root, ctx) {
  const state = ctx.params.get("state") || "open";
  const severity = ctx.params.get("severity") || "";
  const go = (s, v) => {
    location.hash = `#/alerts?state=${s}${v ? `&severity=${v}` : ""}`;
  };
  const stateSel = h("select", { name: "state", "aria-label": t("alerts.filter-state"), onchange: (e) => go(e.target.value, severity) },
    STATES.map((s) => h("option", { value: s, selected: s === state }, t(`alert-state.${s}`))));
  const sevSel = h("select", { name: "severity", "aria-label": t("alerts.filter-severity"), onchange: (e) => go(state, e.target.value) },
    h("option", { value: "" }, t("alerts.any-severity")),
    SEVERITIES.map((s) => h("option", { value: s, selected: s === severity }, t("alerts.at-least", { severity: t(`severity.${s}`) }))));
  const body = h("div", {});
  root.append(h("h1", {}, t("alerts.title")), h("div", { class: "filters" }, stateSel, sevSel), body);
  async function load() {
    const r = await optional(`/alerts?state=${state}&limit=200${severity ? `&severity=${severity}` : ""}`);
    body.replaceChildren(r.missing ? notice(t("alerts.not-available"), "warn")
      : r.error ? notice(r.error.message, "error") : alertList(r.data, ctx, { onChange: load }));
  }
  await load();
  ctx.on("alert", load);
}
