// Irrigation for one zone: the plan (latest decision, plan now), overrides with a
// confirmation step, and the command history with each command's lifecycle, live.

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { dateTime, num, time } from "../fmt.js";

const ACTIONS = {
  skip: "Skip irrigation", hold: "Hold the plan", water_now: "Water now", resume: "Resume the plan",
};

function lifecycle(c) {
  return h("ol", { class: "lifecycle" }, (c.events || []).map((e) =>
    h("li", { class: `st-${e.state}`, title: e.reason || "" }, `${e.state} ${time(e.ts_ms)}`)));
}

function commandRow(c) {
  return h("tr", { "data-command": c.id, "data-state": c.state },
    h("td", { class: "small" }, dateTime(c.created_ms)),
    h("td", {}, h("span", { class: `badge st-${c.state}` }, c.state)),
    h("td", {}, `${c.action} valve ${c.valve}${c.duration_s ? ` · ${Math.round(c.duration_s / 60)} min` : ""}` +
      `${c.amount_mm ? ` · ${num(c.amount_mm, 1, "mm")}` : ""}`),
    h("td", {}, lifecycle(c)),
    h("td", { class: "small" }, c.origin, c.reason ? h("div", { class: "muted" }, c.reason) : null));
}

function overrideForm(zone, ctx, onDone) {
  const who = ctx.session.name;
  if (!ctx.can("plan")) {
    return notice(`Overrides are for agronomists; you are logged in as ${ctx.session.role}. ` +
      "You can see the plan and the commands.", "info");
  }
  const msg = h("div", { "aria-live": "assertive" });
  const action = h("select", { name: "action", "aria-label": "override" },
    Object.entries(ACTIONS).map(([k, v]) => h("option", { value: k }, v)));
  const amount = h("input", { name: "amount_mm", type: "number", min: "0.5", max: "500", step: "0.5", placeholder: "refill" });
  const until = h("input", { name: "until", type: "datetime-local" });
  const reason = h("input", { name: "reason", required: true, maxlength: 400, placeholder: "why (kept with your name)" });
  const confirmBox = h("div", { class: "confirm", hidden: true });
  const form = h("form", {
    class: "stack",
    onsubmit: (e) => {
      e.preventDefault();
      const what = ACTIONS[action.value] + (action.value === "water_now" ? ` (${amount.value ? amount.value + " mm" : "refill to field capacity"})` : "") +
        (until.value && ["skip", "hold"].includes(action.value) ? ` until ${until.value}` : "");
      confirmBox.replaceChildren(
        h("p", {}, h("strong", {}, `${what} in zone ${zone}?`), ` Recorded as person:${who}, reason: “${reason.value}”.`),
        h("button", { type: "button", "data-testid": "confirm-override", onclick: submit }, "Confirm"),
        " ", h("button", { type: "button", class: "secondary", onclick: () => { confirmBox.hidden = true; } }, "Cancel"));
      confirmBox.hidden = false;
    },
  },
  h("label", {}, "Override", action),
  h("label", {}, "Amount, mm (water now)", amount),
  h("label", {}, "Until (skip, hold; local time of this browser)", until),
  h("label", {}, "Reason", reason),
  h("button", { type: "submit" }, "Review…"), confirmBox, msg);

  async function submit() {
    confirmBox.hidden = true;
    const body = { action: action.value, reason: reason.value };
    if (action.value === "water_now" && amount.value) body.amount_mm = Number(amount.value);
    if (until.value && ["skip", "hold"].includes(action.value)) body.until = new Date(until.value).toISOString();
    try {
      const o = await api(`/zones/${encodeURIComponent(zone)}/override`, { method: "POST", body });
      let text = `${ACTIONS[o.action]} recorded by ${o.by} at ${dateTime(o.ts_ms)}.`;
      if (o.action === "water_now") {
        // water_now is honoured by the next plan: plan now so the command goes out at once
        const d = await api(`/zones/${encodeURIComponent(zone)}/plan`, { method: "POST" });
        text += ` Planner: ${d.action} — ${d.explanation}`;
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
  root.append(h("h1", {}, `Irrigation · ${z.name}`), h("p", {}, h("a", { href: `#/zone/${q}` }, "← zone page")));
  const planBox = h("div", {});
  const tbody = h("tbody", {});
  const history = h("div", { class: "scroll" }, h("table", { "data-testid": "commands" },
    h("thead", {}, h("tr", {}, ["created", "state", "what", "lifecycle", "origin"].map((x) => h("th", {}, x)))), tbody));

  async function loadPlan() {
    const decisions = await api(`/zones/${q}/decisions?limit=5`);
    const planMsg = h("div", {});
    const d = decisions[0];
    planBox.replaceChildren(
      d ? h("div", {}, h("p", {}, h("strong", {}, d.action), ` by rule ${d.rule}, ${dateTime(d.ts_ms)}`), h("p", {}, d.explanation))
        : h("p", { class: "muted" }, "No decision yet."),
      ctx.can("plan") ? h("button", { onclick: async () => {
        try {
          await api(`/zones/${q}/plan`, { method: "POST" });
          await loadPlan();
          await loadCommands();
        } catch (err) {
          planMsg.replaceChildren(notice(err.message, "error"));
        }
      } }, "Plan now") : null, planMsg);
  }

  async function loadCommands() {
    const all = await api("/commands?limit=500");
    const mine = all.filter((c) => c.zone === zone);
    tbody.replaceChildren(...(mine.length ? mine.map(commandRow) : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No commands yet."))]));
  }

  root.append(h("div", { class: "grid two" }, card("Plan", planBox), card("Override", overrideForm(zone, ctx, async () => {
    await loadPlan();
    await loadCommands();
  }))), card("Commands", history));
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
