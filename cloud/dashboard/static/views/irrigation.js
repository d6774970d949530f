// Irrigation for one zone: the plan (latest decision, plan now), overrides with a
// confirmation step, and the command history with each command's lifecycle, live.

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { dateTime, num, time } from "../fmt.js";
import { t, tr } from "../i18n.js";
import { decisionText, origin } from "./zone.js";

const ACTIONS = ["skip", "hold", "water_now", "resume"];

function lifecycle(c) {
  return h("ol", { class: "lifecycle" }, (c.events || []).map((e) =>
    h("li", { class: `st-${e.state}`, title: e.reason || "" }, t("irrigation.event", { state: tr("command_state", e.state), at: time(e.ts_ms) }))));
}

function commandRow(c) {
  const what = [t("irrigation.what", { action: tr("action", c.action), valve: c.valve }),
    c.duration_s ? t("zone.next-minutes", { min: Math.round(c.duration_s / 60) }) : null,
    c.amount_mm ? num(c.amount_mm, 1, "mm") : null].filter(Boolean).join(" · ");
  return h("tr", { "data-command": c.id, "data-state": c.state },
    h("td", { class: "small" }, dateTime(c.created_ms)),
    h("td", {}, h("span", { class: `badge st-${c.state}` }, tr("command_state", c.state))),
    h("td", {}, what),
    h("td", {}, lifecycle(c)),
    h("td", { class: "small" }, origin(c.origin), c.reason ? h("div", { class: "muted" }, c.reason) : null));
}

function overrideForm(zone, ctx, onDone) {
  const who = ctx.session.name;
  if (!ctx.can("plan")) {
    return notice(t("irrigation.agronomists-only", { role: t(`role.${ctx.session.role}`) }), "info");
  }
  const msg = h("div", { "aria-live": "assertive" });
  const action = h("select", { name: "action", "aria-label": t("irrigation.override") },
    ACTIONS.map((k) => h("option", { value: k }, t(`override.${k}`))));
  const amount = h("input", { name: "amount_mm", type: "number", min: "0.5", max: "500", step: "0.5", placeholder: t("irrigation.refill") });
  const until = h("input", { name: "until", type: "datetime-local" });
  const reason = h("input", { name: "reason", required: true, maxlength: 400, placeholder: t("irrigation.reason-placeholder") });
  const confirmBox = h("div", { class: "confirm", hidden: true });
  const form = h("form", {
    class: "stack",
    onsubmit: (e) => {
      e.preventDefault();
      let what = t(`override.${action.value}`);
      if (action.value === "water_now") {
        what = amount.value ? t("irrigation.water-amount", { what, mm: amount.value }) : t("irrigation.water-refill", { what });
      }
      if (until.value && ["skip", "hold"].includes(action.value)) {
        what = t("irrigation.until", { what, until: dateTime(new Date(until.value).getTime()) });
      }
      confirmBox.replaceChildren(
        h("p", {}, h("strong", {}, t("irrigation.confirm-what", { what, zone })), " ",
          t("irrigation.confirm-who", { person: `person:${who}`, reason: reason.value })),
        h("button", { type: "button", "data-testid": "confirm-override", onclick: submit }, t("irrigation.confirm")),
        " ", h("button", { type: "button", class: "secondary", onclick: () => { confirmBox.hidden = true; } }, t("irrigation.cancel")));
      confirmBox.hidden = false;
    },
  },
  h("label", {}, t("irrigation.override"), action),
  h("label", {}, t("irrigation.amount"), amount),
  h("label", {}, t("irrigation.until-label"), until),
  h("label", {}, t("irrigation.reason"), reason),
  h("button", { type: "submit", "data-testid": "review-override" }, t("irrigation.review")), confirmBox, msg);

  async function submit() {
    confirmBox.hidden = true;
    const body = { action: action.value, reason: reason.value };
    if (action.value === "water_now" && amount.value) body.amount_mm = Number(amount.value);
    if (until.value && ["skip", "hold"].includes(action.value)) body.until = new Date(until.value).toISOString();
    try {
      const o = await api(`/zones/${encodeURIComponent(zone)}/override`, { method: "POST", body });
      let text = t("irrigation.recorded", { what: t(`override.${o.action}`), by: o.by, at: dateTime(o.ts_ms) });
      if (o.action === "water_now") {
        // water_now is honoured by the next plan: plan now so the command goes out at once
        const d = await api(`/zones/${encodeURIComponent(zone)}/plan`, { method: "POST" });
        text += " " + t("irrigation.planner-says", { action: tr("action", d.action), explanation: decisionText(d) });
      }
      msg.replaceChildren(notice(text, "ok"));
      onDone();
    } catch (err) {
      msg.replaceChildren(notice(err.message, "error"));
    }
  }
  return form;
}

export async function render(root, ctx) {
  const zone = ctx.args[0];
  const q = encodeURIComponent(zone);
  const z = await api(`/registry/zones/${q}`);
  root.append(h("h1", {}, t("irrigation.title", { zone: z.name })), h("p", {}, h("a", { href: `#/zone/${q}` }, t("irrigation.back"))));
  const planBox = h("div", { "data-testid": "plan" });
  const tbody = h("tbody", {});
  const history = h("div", { class: "scroll" }, h("table", { "data-testid": "commands" },
    h("thead", {}, h("tr", {}, ["created", "state", "what", "lifecycle", "origin"].map((x) => h("th", {}, t(`irrigation.col.${x}`))))), tbody));

  async function loadPlan() {
    const decisions = await api(`/zones/${q}/decisions?limit=5`);
    const planMsg = h("div", {});
    const d = decisions[0];
    planBox.replaceChildren(
      d ? h("div", {}, h("p", {}, h("strong", {}, tr("action", d.action)), " ", t("irrigation.by-rule", { rule: tr("rule", d.rule), at: dateTime(d.ts_ms) })),
        h("p", { "data-testid": "decision-text" }, decisionText(d)))
        : h("p", { class: "muted" }, t("zone.no-decisions")),
      ctx.can("plan") ? h("button", { "data-testid": "plan-now", onclick: async () => {
        try {
          await api(`/zones/${q}/plan`, { method: "POST" });
          await loadPlan();
          await loadCommands();
        } catch (err) {
          planMsg.replaceChildren(notice(err.message, "error"));
        }
      } }, t("irrigation.plan-now")) : "", planMsg); // "", not null: replaceChildren writes null as the text "null"
  }

  async function loadCommands() {
    const all = await api("/commands?limit=500");
    const mine = all.filter((c) => c.zone === zone);
    tbody.replaceChildren(...(mine.length ? mine.map(commandRow) : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, t("irrigation.no-commands")))]));
  }

  root.append(h("div", { class: "grid two" }, card(t("irrigation.plan"), planBox), card(t("irrigation.override"), overrideForm(zone, ctx, async () => {
    await loadPlan();
    await loadCommands();
  }))), card(t("irrigation.commands"), history));
  await Promise.all([loadPlan(), loadCommands()]);

  ctx.on("decision", (ev) => {
    if (ev.zone_id === zone) loadPlan().catch(() => {});
  });
  // Live: a command of this zone moved; fetch it and replace its row (or add it).
  ctx.on("command", async (ev) => {
    if (ev.zone && ev.zone !== zone) return;
    try {
      const c = await api(`/commands/${encodeURIComponent(ev.id)}`);
      if (c.zone !== zone) return;
      const row = commandRow(c);
      const old = tbody.querySelector(`tr[data-command="${CSS.escape(c.id)}"]`);
      if (old) old.replaceWith(row);
      else await loadCommands();
    } catch (err) {
      console.warn("live command update failed", err);
    }
  });
}
