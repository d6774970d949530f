// The zone page's soil chart: one line per probe (node and depth) against the zone's limits.
//
// A chart some 1,000 pixels wide cannot show 8,640 points per probe (90 days of 15-minute
// reports), so the page asks the service for about one window per pixel (`window=auto`,
// `points` = the chart's width): over 90 days that is 2-hour means, which the store answers
// from its hourly roll-up. When a person zooms in (drag across the chart) the page fetches the
// zoomed span again at the finest window that fits, down to the 15-minute reports, and draws
// it in place of the coarse windows there; a double click zooms back out to the overview.

import { api } from "../api.js";
import { colour, lineChart } from "../charts.js";
import { t } from "../i18n.js";

export const REPORT_MS = 15 * 60000; // the probes' report interval: the finest window there is

// About one window per pixel of the chart's plotting area.
export function chartPoints(el) {
  return Math.max(100, Math.min(1100, (el.clientWidth || window.innerWidth || 600) - 80));
}

export function columnsPath(zone, { days, points, start, end }) {
  const range = start === undefined ? `days=${days}` : `start=${Math.floor(start)}&end=${Math.ceil(end)}`;
  return `/zones/${encodeURIComponent(zone)}/columns?measurement=vwc_pct&window=auto&points=${points}&${range}`;
}

const key = (s) => `${s.node}@${s.depth_cm}`;

// Columns -> uPlot data [xs (s), probe columns..., limit lines...]. The period's ends are empty
// columns so the x axis spans the period asked for, however few reports there are.
function toData(cols, limits, keys) {
  const times = [...cols.times_ms];
  const pad = [!times.length || times[0] > cols.start_ms, !times.length || times[times.length - 1] < cols.end_ms];
  if (pad[0]) times.unshift(cols.start_ms);
  if (pad[1]) times.push(cols.end_ms);
  const byKey = new Map(cols.sensors.map((s) => [key(s), s.values]));
  const fit = (values) => values ? [...(pad[0] ? [null] : []), ...values, ...(pad[1] ? [null] : [])]
    : new Array(times.length).fill(null);
  return [times.map((t) => t / 1000), ...keys.map((k) => fit(byKey.get(k))),
    ...limits.map((v) => new Array(times.length).fill(v))];
}

// The overview outside [lo, hi] (seconds) and the finer data inside it, as one data set.
function splice(base, fine, lo, hi) {
  const xs = base[0];
  let a = 0;
  while (a < xs.length && xs[a] < lo) a++;
  let b = a;
  while (b < xs.length && xs[b] <= hi) b++;
  return base.map((col, i) => [...col.slice(0, a), ...fine[i], ...col.slice(b)]);
}

export function countPoints(data, probes) {
  let n = 0;
  for (let i = 1; i <= probes; i++) for (const v of data[i]) if (v !== null) n++;
  return n;
}

// Draws the chart (calls `onDrawn` once it is on the canvas); returns a handle for live
// updates, or null when there is nothing to draw.
export function soilChart(el, cols, { zone, limits, onDrawn, onWindow = () => {} }) {
  const keys = cols.sensors.map(key);
  const probes = keys.length;
  let base = toData(cols, limits.map((l) => l.value), keys);
  let zoom = null; // {lo, hi, window_ms, data}: the finer data of the zoomed span, once fetched
  let seq = 0;
  let timer = null;
  let fetches = 0;
  let settled = null; // the x range the data in view is for: its own setScale (uPlot fires it later) is no zoom
  const show = (window_ms, data, span) => {
    el.dataset.windowMs = String(window_ms);
    el.dataset.points = String(countPoints(data, probes));
    onWindow(window_ms, span);
  };

  // Replace the chart's data, keeping the span in view.
  const apply = (data) => {
    const { min, max } = plot.scales.x;
    settled = { min, max };
    plot.setData(data, false);
    plot.setScale("x", { min, max });
  };

  async function refine(min, max) {
    const mine = ++seq;
    settled = { min, max };
    const fullSpan = base[0][base[0].length - 1] - base[0][0];
    if (max - min >= fullSpan * 0.98 || cols.window_ms <= REPORT_MS) { // zoomed out, or nothing finer
      if (zoom) {
        zoom = null;
        apply(base);
      }
      show(cols.window_ms, base);
      el.dataset.zoom = "out";
      return;
    }
    const t = performance.now();
    el.dataset.zoom = "loading";
    const lo = min * 1000;
    const hi = max * 1000;
    let fine;
    try {
      el.dataset.zoomFetches = String(++fetches);
      fine = await api(columnsPath(zone, { points: chartPoints(el), start: lo, end: hi }));
    } catch (err) {
      el.dataset.zoom = "error";
      console.error("zoomed data", err);
      return;
    }
    if (mine !== seq) return; // a newer zoom is under way
    const fineData = toData(fine, limits.map((l) => l.value), keys);
    const data = splice(base, fineData, fine.start_ms / 1000, fine.end_ms / 1000);
    zoom = { lo, hi, window_ms: fine.window_ms, data };
    apply(data);
    show(fine.window_ms, fineData, [lo, hi]);
    el.dataset.zoom = "in";
    el.dataset.zoomMs = String(Math.round(performance.now() - t));
  }

  const plot = lineChart(el, {
    xs: base[0], yLabel: t("zone.soil-axis"), height: 300, onDrawn,
    series: [...cols.sensors.map((s, i) => ({ label: t("zone.probe", { node: s.node, depth: s.depth_cm ?? "?" }), values: base[i + 1],
      colour: colour(i) })),
      ...limits.map((l, i) => ({ label: l.label, values: base[probes + 1 + i], colour: l.colour, dash: [6, 4], width: 1 }))],
    onScale: (u, scaleKey) => {
      if (scaleKey !== "x") return;
      const { min, max } = u.scales.x;
      if (settled && settled.min === min && settled.max === max) return;
      clearTimeout(timer);
      timer = setTimeout(() => refine(min, max), 120); // a drag ends in one zoom; wait for it
    },
  });
  if (!plot) return null;
  show(cols.window_ms, base);
  el.dataset.zoom = "out";

  // A new report of a probe goes into the chart where it belongs: with 15-minute windows into
  // its window; with coarser ones as a point of its own at its time, after the last window
  // (a single report is not the mean of a window).
  function addReading(probe, tsMs, value) {
    const col = keys.indexOf(probe) + 1;
    if (col === 0) return false;
    const x = (cols.window_ms <= REPORT_MS ? tsMs - (tsMs % REPORT_MS) : tsMs) / 1000;
    const insert = (data) => {
      const xs = data[0];
      if (x < xs[0]) return data;
      let i = xs.length;
      while (i > 0 && xs[i - 1] > x) i--; // reports arrive in order: this looks at the last few
      const out = data.map((a) => Array.from(a));
      if (xs[i - 1] !== x) {
        out[0].splice(i, 0, x);
        out.slice(1).forEach((a, k) => a.splice(i, 0, k >= probes ? limits[k - probes].value : null));
      } else {
        i -= 1;
      }
      out[col][i] = value;
      return out;
    };
    base = insert(base);
    if (zoom) zoom.data = insert(zoom.data);
    const data = zoom ? zoom.data : base;
    if (zoom) apply(data);
    else plot.setData(data);
    return true;
  }

  return { plot, addReading, probes: () => probes, points: () => countPoints(plot.data, probes) };
}
