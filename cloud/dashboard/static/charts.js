// uPlot wrappers. uPlot draws tens of thousands of points on a canvas in milliseconds, which
// is what keeps a season of 15-minute data interactive; it is loaded as a plain script
// (window.uPlot) from the npm package the service serves.

import { h, notice } from "./dom.js";
import { axisDate, dateTime, timeZone } from "./fmt.js";
import { number, t } from "./i18n.js";

export function chartsAvailable() {
  return typeof window.uPlot === "function";
}

export function unavailable() {
  return notice(t("chart.unavailable"), "warn");
}

// Axis ticks and legend values in the reader's language, times in the farm's zone (uPlot's
// own date formats are English). Ticks a day or more apart show the day, closer ones the time.
const DAY_S = 86400;
const xAxis = { values: (u, splits, axis, space, incr) => splits.map((s) => axisDate(s * 1e3, incr >= DAY_S)) };
const yAxis = (label) => ({ label, values: (u, splits) => splits.map((v) => number(v)) });
// uPlot's legend: "--" where the cursor is on no point, nothing where a series has no value there
const xValue = (u, ts, si, di) => (di == null ? "--" : dateTime(ts * 1e3));
const dayValue = (u, ts, si, di) => (di == null ? "--" : axisDate(ts * 1e3, true));
const yValue = (u, v, si, di) => (di == null ? "--" : v == null ? "" : number(v));

const PALETTE = ["#1b6ca8", "#d1495b", "#2a9d8f", "#e9c46a", "#6a4c93", "#f4a261", "#264653", "#8ab17d",
  "#b5838d", "#457b9d", "#e76f51", "#3d405b"];

export function colour(i) {
  return PALETTE[i % PALETTE.length];
}

function width(el) {
  return Math.max(280, Math.min(1100, (el.clientWidth || 600) - 8));
}

// Lines over time. `xs` in seconds; `series` [{label, values, colour, dash, width}];
// `onScale(plot, key)` is called when a scale changes (a zoom, for one).
export function lineChart(el, { xs, series, yLabel, height = 260, onDrawn, onScale }) {
  if (!chartsAvailable()) return el.append(unavailable());
  const tz = timeZone();
  let drawn = false;
  const opts = {
    width: width(el),
    height,
    tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1e3), tz),
    scales: { x: { time: true } },
    axes: [xAxis, yAxis(yLabel)],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    series: [{ label: t("chart.time", { tz }), value: xValue }, ...series.map((s, i) => ({
      label: s.label, stroke: s.colour || colour(i), width: s.width || 1.5, dash: s.dash, spanGaps: false, value: yValue,
      points: { show: xs.length < 60 && !s.dash }, // a few reports: dots, or a lone one would not show
    }))],
    hooks: {
      draw: [() => {
        if (!drawn && onDrawn) {
          drawn = true;
          onDrawn();
        }
      }],
      setScale: onScale ? [onScale] : [],
    },
  };
  const plot = new window.uPlot(opts, [xs, ...series.map((s) => s.values)], el);
  resizeWith(el, plot);
  return plot;
}

// Daily values: bars (rain, irrigation: `align` -1 left of the day, 1 right) and lines (ET0).
// `series` [{label, values, colour, bar: true|false, align}].
export function dailyChart(el, { xs, series, yLabel, height = 220 }) {
  if (!chartsAvailable()) return el.append(unavailable());
  const tz = timeZone();
  const plot = new window.uPlot({
    width: width(el),
    height,
    tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1e3), tz),
    axes: [xAxis, yAxis(yLabel)],
    series: [{ label: t("chart.day", { tz }), value: dayValue },
      ...series.map((s, i) => s.bar ? {
        label: s.label, stroke: s.colour || colour(i), fill: (s.colour || colour(i)) + "cc", width: 0, value: yValue,
        paths: window.uPlot.paths.bars({ size: [0.4, 30], align: s.align || 0 }), points: { show: false },
      } : { label: s.label, stroke: s.colour || colour(i), width: 2, dash: s.dash, value: yValue })],
  }, [xs, ...series.map((s) => s.values)], el);
  resizeWith(el, plot);
  return plot;
}

function resizeWith(el, plot) {
  const ro = new ResizeObserver(() => plot.setSize({ width: width(el), height: plot.height }));
  ro.observe(el);
}

export function chartBox(title, note) {
  return h("section", { class: "card chart" }, h("h3", {}, title), note ? h("p", { class: "muted small" }, note) : null);
}
