// The technician's node list: role, zone, depth, last seen, battery, signal, firmware and
// faults; a node silent for an hour (or never heard) stands out.

import { api } from "../api.js";
import { h, notice, table } from "../dom.js";
import { ago, dateTime, num } from "../fmt.js";

export const STALE_MS = 3600 * 1000; // cloud/commissioning.py STALE_AFTER_MS

export async function render(root, ctx) {
  root.append(h("h1", {}, "Nodes"), h("p", { class: "muted small" },
    "Silent for more than an hour: highlighted. Battery in volts, signal in dBm."));
  const body = h("div", {});
  root.append(body);
  async function load() {
    const [heard, registered] = await Promise.all([api("/nodes"), api("/registry/nodes")]);
    const byId = new Map();
    for (const r of registered) byId.set(r.id, { reg: r });
    for (const n of heard) byId.set(n.node, { ...(byId.get(n.node) || {}), route: n });
    const now = Date.now();
    const rows = [...byId.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([id, { reg, route }]) => {
      const last = route?.last_seen_ms;
      const stale = !last || now - last > STALE_MS;
      const faults = route?.faults || [];
      return h("tr", { class: stale ? "stale" : "", "data-node": id, "data-stale": stale ? "1" : "0" },
        h("td", {}, h("a", { href: `#/node/${encodeURIComponent(id)}` }, id), reg ? null : h("div", { class: "small warn" }, "not registered")),
        h("td", {}, reg?.role || route?.role || "—"),
        h("td", {}, reg?.zone_id ? h("a", { href: `#/zone/${encodeURIComponent(reg.zone_id)}` }, reg.zone_id) : "—"),
        h("td", {}, reg?.depths_cm?.length ? `${reg.depths_cm.join(", ")} cm` : "—"),
        h("td", { title: last ? dateTime(last) : "" }, stale ? h("strong", {}, ago(last, now)) : ago(last, now)),
        h("td", {}, num(route?.bat_v, 2, "V")),
        h("td", {}, route?.rssi_dbm != null ? `${route.rssi_dbm} dBm` : "—"),
        h("td", {}, route?.fw || reg?.firmware || "—"),
        h("td", { class: faults.length ? "warn" : "" }, faults.length ? faults.join("; ") : "none"));
    });
    body.replaceChildren(rows.length ? table(["node", "role", "zone", "depth", "last seen", "battery", "signal",
      "firmware", "faults"], rows, { "data-testid": "nodes" }) : notice("No nodes registered or heard yet."));
  }
  await load();
  let pending = null;
  ctx.on("reading", () => {
    pending ||= setTimeout(async () => {
      pending = null;
      await load();
    }, 2000);
  });
  return () => clearTimeout(pending);
}
