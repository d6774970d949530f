// The technician's node list: role, zone, depth, last seen, battery, signal, firmware and
// faults; a node silent for an hour (a camera: a day and a half), or never heard, stands out.

import { api } from "../api.js";
import { h, notice, table } from "../dom.js";
import { ago, dateTime, num } from "../fmt.js";
import { t, tr } from "../i18n.js";

export const STALE_MS = 3600 * 1000; // cloud/commissioning.py STALE_AFTER_MS
// A camera is heard through its photos, a day apart at most by default (cloud/alerts/snapshot.py
// camera_interval_s; the demo's trap camera shoots at dawn): it stands out once it has missed a photo by half
// a day, not after an hour (the demo's trap camera was marked silent all day long).
export const CAMERA_STALE_MS = 36 * 3600 * 1000;
const staleAfter = (role) => (role === "camera" ? CAMERA_STALE_MS : STALE_MS);

export async function render(root, ctx) {
  root.append(h("h1", {}, t("nodes.title")), h("p", { class: "muted small" }, t("nodes.help")));
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
      const stale = !last || now - last > staleAfter(reg?.role || route?.role);
      const faults = route?.faults || [];
      return h("tr", { class: stale ? "stale" : "", "data-node": id, "data-stale": stale ? "1" : "0" },
        h("td", {}, h("a", { href: `#/node/${encodeURIComponent(id)}` }, id), reg ? null : h("div", { class: "small warn" }, t("nodes.not-registered"))),
        h("td", {}, tr("node_role", reg?.role || route?.role)),
        h("td", {}, reg?.zone_id ? h("a", { href: `#/zone/${encodeURIComponent(reg.zone_id)}` }, reg.zone_id) : "—"),
        h("td", {}, reg?.depths_cm?.length ? t("nodes.depths", { depths: reg.depths_cm.join(t("punct.list")) }) : "—"),
        h("td", { title: last ? dateTime(last) : "" }, stale ? h("strong", {}, ago(last, now)) : ago(last, now)),
        h("td", {}, num(route?.bat_v, 2, "V")),
        h("td", {}, num(route?.rssi_dbm, 0, "dBm")),
        h("td", {}, route?.fw || reg?.firmware || "—"),
        h("td", { class: faults.length ? "warn" : "" }, faults.length ? faults.map((f) => tr("fault", f)).join(t("punct.clause"))
          : t("nodes.no-faults")));
    });
    body.replaceChildren(rows.length ? table(["node", "role", "zone", "depth", "last-seen", "battery", "signal", "firmware",
      "faults"].map((c) => t(`nodes.col.${c}`)), rows, { "data-testid": "nodes" }) : notice(t("nodes.none")));
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
