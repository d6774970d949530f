// The node's readings that never reached storage (GET /nodes/{node}/gaps): what its gateways
// reported they did not forward, per reason and with the seqs, and the holes nothing explains.

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { dateTime } from "../fmt.js";
import { number, t, tr } from "../i18n.js";

const REASONS = ["quota", "flood", "quarantine", "image_quota"];

function ranges(seqs) {
  return seqs.length ? seqs.map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(", ") : "—";
}

export function gapsCard(id) {
  const body = h("div", { "data-testid": "gaps" });
  load();
  return card(t("node.gaps.title"), body);

  async function load() {
    let g;
    try {
      g = await api(`/nodes/${encodeURIComponent(id)}/gaps`);
    } catch (err) {
      body.replaceChildren(notice(err.message, "error"));
      return;
    }
    const dropped = REASONS.reduce((n, r) => n + (g.dropped[r] || 0), 0);
    if (!dropped && !g.losses.length) {
      body.replaceChildren(h("p", { class: "ok", "data-testid": "gaps-none" }, t("node.gaps.none")));
      return;
    }
    body.replaceChildren(
      h("p", { class: "small muted" }, t("node.gaps.window")),
      h("ul", {}, REASONS.map((r) => h("li", { "data-reason": r, "data-count": g.dropped[r] || 0 },
        t("node.gaps.dropped", { reason: tr("gap-reason", r), count: g.dropped[r] || 0 })))),
      g.reports.length ? table([t("node.gaps.col.reason"), t("node.gaps.col.count"), t("node.gaps.col.seqs"),
        t("node.gaps.col.gateway"), t("node.gaps.col.when")],
      g.reports.map((r) => h("tr", { "data-reason": r.reason },
        h("td", {}, tr("gap-reason", r.reason)), h("td", {}, number(r.count)), h("td", {}, ranges(r.seqs)),
        h("td", {}, r.gateway), h("td", { class: "small" }, dateTime(r.last_ms))))) : "",
      g.losses.length ? h("div", { "data-testid": "losses" },
        h("p", { class: "warn" }, t("node.gaps.losses")),
        h("ul", {}, g.losses.map((x) => h("li", { "data-first": x.first_seq, "data-last": x.last_seq },
          t(x.likely_restart ? "node.gaps.loss-restart" : "node.gaps.loss",
            { seqs: ranges([[x.first_seq, x.last_seq]]), count: x.count }))))) : "");
  }
}
