// Bus health for each gateway's Modbus ports: devices, request error rates and poll rate,
// from the status reports gateways send.

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { ago, dateTime, num } from "../fmt.js";
import { t, tr } from "../i18n.js";

function pct(rate) {
  return rate === null || rate === undefined ? "—" : num(rate * 100, 1, "%");
}

export async function render(root) {
  root.append(h("h1", {}, t("bus.title")));
  const gateways = await api("/gateways");
  if (!gateways.length) {
    root.append(notice(t("bus.no-gateways")));
    return;
  }
  for (const g of gateways) {
    const b = await api(`/gateways/${encodeURIComponent(g.site)}/${encodeURIComponent(g.gateway)}/bus`);
    const title = `${g.site} / ${g.gateway}`;
    if (!b.reported_ms) {
      root.append(card(title, h("p", { class: "muted" }, t("bus.not-reported"))));
      continue;
    }
    const rates = b.interval_ms ? t("bus.rates-over", { s: Math.round(b.interval_ms / 1000) }) : t("bus.rates-since-start");
    root.append(card(title,
      h("p", { class: "small muted" }, t("bus.reported", { at: dateTime(b.reported_ms), ago: ago(b.reported_ms), rates })),
      b.ports.map((p) => h("div", { class: "port", "data-port": p.port },
        h("h4", {}, t("bus.port", { port: p.port, rate: pct(p.error_rate),
          polls: p.polls_per_min != null ? t("bus.polls", { n: num(p.polls_per_min, 1) }) : t("bus.polls-later") })),
        table(["node", "unit", "role", "requests", "errors", "error-rate", "failing", "last-good", "last-error"].map((k) => t(`bus.col.${k}`)),
          p.devices.map((d) => h("tr", { class: d.backed_off || d.consecutive_failures ? "stale" : "" },
            h("td", {}, h("a", { href: `#/node/${encodeURIComponent(d.node)}` }, d.node)), h("td", {}, d.unit ?? "—"),
            h("td", {}, tr("node_role", d.role)),
            h("td", {}, num(d.requests, 0)), h("td", {}, num(d.errors, 0)), h("td", {}, pct(d.error_rate)),
            h("td", {}, d.backed_off ? t("bus.set-aside", { n: d.consecutive_failures }) : d.consecutive_failures || t("bus.no")),
            h("td", { class: "small" }, d.last_good_ms ? ago(d.last_good_ms) : t("time.never")),
            h("td", { class: "small" }, d.last_error || ""))))))));
  }
}
