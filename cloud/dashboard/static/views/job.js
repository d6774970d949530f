// An operator's job (#/job/<machine>, issue 20): the page an operator keeps open on a phone. From the farm's
// current dispatch plan: the task the machine is on now (its first task whose field is not done yet for that
// kind of work), the field on a small map with the machine's live position, how much is done (live, as the
// work is recorded), the planned window and a finish estimate from the area left at the machine's field
// capacity (ASABE EP496.3: C = S w E / 10 ha/h), then the tasks after it. The finish is the server's once it
// has one (GET /dispatch/etas, then the live "eta" event as fixes and operations arrive: it also counts the
// machine's live work not recorded yet); until then the page's own from the recorded area. The map is the map
// page's (Leaflet, map.js: the same field shape and machine marker, the basemap when one is configured, a
// plain background and a scale without).

import { api } from "../api.js";
import { card, h, notice } from "../dom.js";
import { dateTime, num } from "../fmt.js";
import { t } from "../i18n.js";
import { fieldShape, loadLeaflet, machineMarker, moveMarker, newMap } from "../map.js";
import { donePct, fieldProgress, loadPlan } from "./dispatch.js";
import { reportCard } from "./job_report.js";

const DONE_PCT = 99.5; // a field this far covered counts as done: the headland corners are rarely all reached

// The job's field and machine on a Leaflet map, made once (when there is something to draw and its element is in
// the page) and kept across redraws: the field drawn again when the job moves to another field, the marker moved
// on each fix.
function jobMap(L) {
  const el = h("div", { class: "lmap job-map", "data-testid": "job-map", role: "region" });
  const state = { map: null, making: null, field: null, shape: null, marker: null, last: null };
  const update = (field, machine) => {
    state.last = [field, machine];
    el.setAttribute("aria-label", t("job.map-label", { field: field.name }));
    if (!state.map) {
      state.making ||= newMap(L, el).then((made) => {
        state.map = made.map;
        update(...state.last);
      });
      return;
    }
    if (state.field !== field.id) {
      state.shape?.remove();
      state.shape = field.boundary ? fieldShape(L, field).addTo(state.map) : null;
      state.field = field.id;
      const bounds = state.shape ? state.shape.getBounds() : L.latLngBounds([]);
      if (machine) bounds.extend([machine.lat, machine.lon]);
      if (bounds.isValid()) state.map.fitBounds(bounds, { padding: [16, 16], maxZoom: 18 });
    }
    if (machine) {
      if (state.marker) moveMarker(state.marker, machine);
      else state.marker = machineMarker(L, machine).addTo(state.map);
    }
    state.map.invalidateSize(); // the element moves into each redraw of its card
  };
  return { el, update, ready: () => state.making, remove: () => state.map?.remove() };
}

export async function render(root, ctx) {
  // #/job alone: the machine the caller drives (an operator's home page), from GET /jobs/mine
  const id = ctx.args[0] || ((await api("/jobs/mine"))[0]?.machine ?? "");
  if (!id) {
    root.append(h("h1", {}, t("job.mine")), notice(t("job.no-machine")));
    return;
  }
  root.append(h("h1", {}, t("job.title", { machine: id })));
  const data = await loadPlan();
  ctx.on("dispatch", () => window.dispatchEvent(new HashChangeEvent("hashchange"))); // re-planned: the new job
  const spec = data?.current.request.machines.find((m) => m.id === id);
  if (!data || !spec) {
    root.append(notice(t(data ? "job.not-in-plan" : "dispatch.none")));
    return;
  }
  const stops = data.current.plan.routes[id] || [];
  if (!spec.available) root.append(notice(t("job.broken"), "error"));
  if (!stops.length) {
    root.append(notice(t("job.nothing")));
    return;
  }
  const machines = spec.node ? await api("/machines") : [];
  let machine = machines.find((m) => m.node === spec.node) || null;
  const capacity = (spec.speed_kmh * spec.width_m * spec.efficiency) / 10; // ha/h
  let server = ((await api("/dispatch/etas")) || []).find((x) => x.machine === id) || null;
  const box = h("div", { "data-testid": "job" });
  const reportBox = h("div", {});
  root.append(box, reportBox);
  const L = await loadLeaflet();
  const mapped = L ? jobMap(L) : null;

  const draw = () => {
    const i = Math.max(0, stops.findIndex((s) => donePct(data, data.tasks[s.task]) < DONE_PCT));
    const stop = stops[i];
    const task = data.tasks[stop.task];
    const field = data.fields[stop.field] || { id: stop.field, name: stop.field, boundary: null };
    const pct = donePct(data, task);
    const fieldHa = data.progress[stop.field]?.ha;
    const fromServer = server && server.task === stop.task;
    const leftHa = fromServer ? server.left_ha : fieldHa == null ? stop.area_ha : fieldHa * Math.max(0, 1 - pct / 100);
    const finish = fromServer ? server.finish_ms : Date.now() + (leftHa / capacity) * 3_600_000;
    box.dataset.task = stop.task;
    box.dataset.done = String(pct);
    box.replaceChildren(
      h("section", { class: "card job-now" },
        h("h3", {}, t("job.now")),
        h("p", { class: "job-task" }, t("job.task", { kind: t(`machinery.kind.${task.kind}`), field: field.name })),
        h("div", { class: "job-progress", role: "progressbar", "aria-valuenow": String(Math.round(pct)),
          "aria-valuemin": "0", "aria-valuemax": "100", "aria-label": t("job.done-label") },
        h("div", { class: "job-bar", "data-pct": String(pct) })),
        h("p", { "data-testid": "job-done" }, t("job.done", { pct: num(pct, 0, "%"), left: num(leftHa, 2, t("unit.ha")) })),
        h("p", { class: "small" }, t("job.window", { start: dateTime(stop.start_ms), end: dateTime(stop.end_ms) }),
          stop.late ? ` · ${t("dispatch.late")}` : ""),
        h("p", { class: "small", "data-testid": "job-eta", "data-source": fromServer ? "server" : "browser",
          "data-left": String(leftHa) }, t("job.eta", { when: dateTime(finish),
          rate: num(capacity, 1, t("unit.ha-h")) })),
        !L ? notice(t("machinery.map.no-library"), "error")
          : field.boundary || machine ? mapped.el : notice(t("job.no-map"))),
      card(t("job.next"), stops.length > i + 1
        ? h("ol", { start: String(i + 2) }, stops.slice(i + 1).map((s) => h("li", { "data-task": s.task },
          t("job.task", { kind: t(`machinery.kind.${data.tasks[s.task].kind}`), field: data.fields[s.field]?.name || s.field }),
          " · ", dateTime(s.start_ms))))
        : h("p", { class: "muted" }, t("job.last"))));
    // the bar's width through CSSOM: the content security policy refuses style attributes
    box.querySelector(".job-bar").style.width = `${Math.min(100, pct)}%`;
    if (field.boundary || machine) mapped?.update(field, machine);
    // the report form is kept across redraws (positions arrive every second) until the task changes
    if (ctx.can("report") && reportBox.dataset.task !== stop.task) {
      reportBox.dataset.task = stop.task;
      reportBox.replaceChildren(reportCard(stop.task));
    }
  };
  draw();
  await mapped?.ready(); // the page is rendered with its map drawn
  ctx.on("position", (ev) => {
    const m = (ev.machines || []).find((x) => x.node === spec.node);
    if (!m || (machine && machine.t_ms >= m.t_ms)) return;
    machine = { ...machine, ...m };
    draw();
  });
  ctx.on("eta", (ev) => {
    const m = (ev.machines || []).find((x) => x.machine === id);
    if (!m) return;
    server = m;
    draw();
  });
  ctx.on("operation", async (ev) => {
    if (!(ev.field_id in data.progress)) return;
    data.progress[ev.field_id] = await fieldProgress(ev.field_id);
    draw();
  });
  return () => mapped?.remove();
}
