// Bus health for each gateway's Modbus ports: devices, request error rates and poll rate,
// from the status reports gateways send.

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { ago, dateTime, num } from "../fmt.js";

function pct(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)} %`;
}

export async function render(root) {
  root.append(h("h1", {}, "Modbus bus health"));
  const gateways = await api("/gateways");
  if (!gateways.length) {
    root.append(notice("No gateway has forwarded readings or reported its status yet."));
    return;
  }
  for (const g of gateways) {
    const b = await api(`/gateways/${encodeURIComponent(g.site)}/${encodeURIComponent(g.gateway)}/bus`);
    const title = `${g.site} / ${g.gateway}`;
    if (!b.reported_ms) {
      root.append(card(title, h("p", { class: "muted" }, "This gateway has not reported its Modbus status yet.")));
      continue;
    }
    root.append(card(title,
      h("p", { class: "small muted" }, `reported ${dateTime(b.reported_ms)} (${ago(b.reported_ms)})` +
        (b.interval_ms ? `; rates over the last ${Math.round(b.interval_ms / 1000)} s` : "; rates since the gateway started")),
      b.ports.map((p) => h("div", { class: "port", "data-port": p.port },
        h("h4", {}, `port ${p.port}: error rate ${pct(p.error_rate)} · ${p.polls_per_min != null ? num(p.polls_per_min, 1) + " polls/min" : "poll rate after the next report"}`),
        table(["node", "unit", "role", "requests", "errors", "error rate", "failing", "last good", "last error"],
          p.devices.map((d) => h("tr", { class: d.backed_off || d.consecutive_failures ? "stale" : "" },
            h("td", {}, h("a", { href: `#/node/${encodeURIComponent(d.node)}` }, d.node)), h("td", {}, d.unit ?? "—"), h("td", {}, d.role || "—"),
            h("td", {}, d.requests), h("td", {}, d.errors), h("td", {}, pct(d.error_rate)),
            h("td", {}, d.backed_off ? `set aside (${d.consecutive_failures} failures)` : d.consecutive_failures || "no"),
            h("td", { class: "small" }, d.last_good_ms ? ago(d.last_good_ms) : "never"),
            h("td", { class: "small" }, d.last_error || ""))))))));
  }
}
