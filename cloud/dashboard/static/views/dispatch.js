// Dispatch (issue 20, docs/machinery.md section 6): the farm's current plan (GET /dispatch/current), each
// machine's tasks in order with when it starts and ends them and how far each field's work has got, the tasks
// no machine can do; a machine marked broken (or back) and the plan made again from the machines' live
// positions and the fields' area left (POST /dispatch/plan, keep): for a plan made from the registry, the
// machine's registry status is changed and the plan made from the registry again. Each machine links to its operator's
// job page (views/job.js), the page an operator keeps open on a phone. Beside the tracked share done, the share the
// operator last reported (POST /tasks/{task}/report), kept on the registry's task and followed live (the task event).

import { api } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { dateTime, num } from "../fmt.js";
import { t } from "../i18n.js";

// The current plan with the fields' names and each task's progress: { current, fields, progress, tasks } or
// null when the farm has none. progress[field][kind] is the % of the field that kind has covered.
export async function loadPlan() {
  let current;
  try {
    current = await api("/dispatch/current");
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
  const fields = Object.fromEntries((await api("/registry/fields")).map((f) => [f.id, f]));
  const tasks = Object.fromEntries(current.request.tasks.map((x) => [x.id, x]));
  const progress = {};
  await Promise.all([...new Set(current.request.tasks.map((x) => x.field))].map(async (id) => {
    progress[id] = await fieldProgress(id);
  }));
  return { current, fields, progress, tasks };
}

export async function fieldProgress(id) {
  try {
    const p = await api(`/fields/${encodeURIComponent(id)}/progress`);
    return { ha: p.field_ha, kinds: Object.fromEntries(p.kinds.map((k) => [k.kind, k.covered_pct])) };
  } catch {
    return { ha: null, kinds: {} }; // a field that lost its boundary: the plan still shows it
  }
}

export const donePct = (data, task) => data.progress[task.field]?.kinds[task.kind] ?? 0;

// The operator's last report on a task ({ reported_pct, reported_by, reported_ms }), or "not yet".
function reportedCell(report) {
  if (report?.reported_pct == null) {
    return h("td", { "data-reported": "" }, h("span", { class: "muted" }, t("dispatch.not-reported")));
  }
  return h("td", { "data-reported": String(report.reported_pct) }, t("dispatch.reported",
    { pct: num(report.reported_pct, 0, "%"), by: report.reported_by, when: dateTime(report.reported_ms) }));
}

function stopRows(data, machine) {
  return (data.current.plan.routes[machine] || []).map((s, i) => {
    const task = data.tasks[s.task];
    return h("tr", { "data-task": s.task },
      h("td", {}, String(i + 1)),
      h("td", {}, t(`machinery.kind.${task.kind}`)),
      h("td", {}, data.fields[s.field]?.name || s.field),
      h("td", {}, num(s.area_ha, 2, t("unit.ha"))),
      h("td", { "data-done": String(donePct(data, task)) }, num(donePct(data, task), 0, "%")),
      reportedCell(data.reported?.[s.task]),
      h("td", {}, dateTime(s.start_ms)),
      h("td", { class: s.late ? "late" : "" }, dateTime(s.end_ms), s.late ? ` · ${t("dispatch.late")}` : ""));
  });
}

export async function render(root, ctx) {
  root.append(h("h1", {}, t("dispatch.title")));
  const data = await loadPlan();
  ctx.on("dispatch", () => window.dispatchEvent(new HashChangeEvent("hashchange"))); // a new plan: show it
  if (!data) {
    root.append(notice(t("dispatch.none")));
    return;
  }
  data.reported = Object.fromEntries((await api("/registry/tasks")).map((x) => [x.id, x]));
  const { current } = data;
  const plan = current.plan;
  root.append(h("p", { class: "muted", "data-testid": "dispatch-summary" },
    t("dispatch.summary", { when: dateTime(plan.planned_ms), by: current.by, h: num(plan.makespan_h, 1, t("unit.h")),
      solver: t(`dispatch.solver.${plan.solver}`) })));
  const heads = ["order", "kind", "field", "area-left", "done", "reported", "start", "end"]
    .map((k) => t(`dispatch.col.${k}`));
  const available = {};
  // A plan made from the registry (machinery.md section 6): a machine's state is its registry status, which whoever
  // keeps the registry changes here; the plan is then made again from the registry. Otherwise from the request.
  const fromRegistry = current.request.registry;
  const canToggle = fromRegistry ? ctx.can("registry") : ctx.can("operations");
  for (const m of current.request.machines) {
    available[m.id] = m.available;
    const stops = plan.routes[m.id] || [];
    const state = m.available ? t("dispatch.available") : t("dispatch.broken");
    const toggle = canToggle ? h("label", { class: "small" },
      h("input", { type: "checkbox", checked: !m.available, "data-broken": m.id,
        onchange: (e) => { available[m.id] = !e.target.checked; } }), " ", t("dispatch.mark-broken")) : null;
    root.append(h("section", { class: "card", "data-machine": m.id },
      h("h3", {}, m.id, " · ", state),
      h("p", { class: "small" }, h("a", { href: `#/job/${encodeURIComponent(m.id)}` }, t("dispatch.job-link")), " ", toggle),
      stops.length ? table(heads, stopRows(data, m.id), { "data-testid": `route-${m.id}` })
        : notice(t("dispatch.no-stops"))));
  }
  const left = Object.entries(plan.left_out);
  if (left.length) {
    root.append(card(t("dispatch.left-out.title"), h("ul", { "data-testid": "left-out" },
      left.map(([task, why]) => h("li", { "data-task": task, "data-reason": why },
        t("dispatch.left-out", { kind: t(`machinery.kind.${data.tasks[task].kind}`),
          field: data.fields[data.tasks[task].field]?.name || data.tasks[task].field }))))));
  }
  if (ctx.can("operations")) {
    const status = h("span", { class: "small muted" });
    root.append(h("p", {}, h("button", { "data-testid": "replan", onclick: async (e) => {
      e.target.disabled = true;
      status.textContent = t("dispatch.replanning");
      const body = fromRegistry
        ? { registry: true, keep: true, solver: current.request.solver, time_limit_s: current.request.time_limit_s }
        : { ...current.request, keep: true,
          machines: current.request.machines.map((m) => ({ ...m, available: available[m.id] })) };
      try {
        for (const m of fromRegistry ? current.request.machines : []) {
          if (available[m.id] === m.available) continue;
          const path = `/registry/machines/${encodeURIComponent(m.id)}`;
          const reg = await api(path);
          await api(path, { method: "PUT", body: { ...reg, status: available[m.id] ? "available" : "broken" } });
        }
        await api("/dispatch/plan", { method: "POST", body });
        window.dispatchEvent(new HashChangeEvent("hashchange"));
      } catch (err) {
        status.textContent = err.message;
        e.target.disabled = false;
      }
    } }, t("dispatch.replan")), " ", status));
  }
  const redraw = () => {
    for (const m of current.request.machines) {
      const tb = root.querySelector(`[data-testid="route-${m.id}"] tbody`);
      tb?.replaceChildren(...stopRows(data, m.id));
    }
  };
  // Work recorded: the done column follows.
  ctx.on("operation", async (ev) => {
    if (!(ev.field_id in data.progress)) return;
    data.progress[ev.field_id] = await fieldProgress(ev.field_id);
    redraw();
  });
  // An operator's report: the reported column follows (done and breakdown also plan again: the dispatch event).
  ctx.on("task", (ev) => {
    if (!(ev.task_id in data.tasks)) return;
    data.reported[ev.task_id] = ev;
    redraw();
  });
}
