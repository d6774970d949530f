// A trap photo's count, for review (#/trap/{node}/{seq}): the photo with every object the counter found
// outlined (the lure's target in red, bycatch in blue, a clump with how many it holds), the counter's
// count, the person's correction form and the corrections so far (GET and POST
// /pests/counts/{node}/{seq}[/review]; the counter is cloud/pests/counting.py, docs/pests.md).

import { api, apiBlob } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { dateTime } from "../fmt.js";
import { t } from "../i18n.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

// The objects' outlines over the photo, in the photo's own pixels (the SVG scales with the image).
function outlines(count, width, height) {
  const layer = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "trap-outlines", "data-testid": "outlines",
    preserveAspectRatio: "none" });
  for (const o of count.objects) {
    const points = o.outline.map(([x, y]) => `${x},${y}`).join(" ");
    layer.append(svg("polygon", { points, class: o.target ? "target" : "bycatch", "data-count": o.count }));
    if (o.count > 1) layer.append(svg("text", { x: o.x, y: o.y, class: "clump" }, `×${o.count}`));
  }
  return layer;
}

function summary(count) {
  const rows = [[t("trap.counter"), count.target, count.total]];
  if (count.reviewed_target !== null) {
    rows.push([t("trap.reviewed", { by: count.reviewed_by, time: dateTime(count.reviewed_ms) }),
      count.reviewed_target, count.reviewed_total]);
  }
  return table([t("trap.whose"), t("trap.target", { species: count.species || "—" }), t("trap.total")],
    rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, String(c))))), { "data-testid": "trap-summary" });
}

function history(reviews) {
  if (!reviews.length) return h("p", { class: "muted small" }, t("trap.no-reviews"));
  return table([t("trap.when"), t("trap.by"), t("trap.change"), t("trap.note")], reviews.map((r) => h("tr", {},
    h("td", {}, dateTime(r.at_ms)), h("td", {}, r.by),
    h("td", {}, `${r.target_before} → ${r.target} / ${r.total_before} → ${r.total}`), h("td", {}, r.note || ""))),
  { "data-testid": "trap-reviews" });
}

function reviewForm(count, path, onDone) {
  const target = h("input", { type: "number", name: "target", min: 0, required: true,
    value: count.reviewed_target ?? count.target });
  const total = h("input", { type: "number", name: "total", min: 0, value: count.reviewed_total ?? count.total });
  const note = h("input", { type: "text", name: "note", maxlength: 300 });
  const status = h("p", { class: "small", "data-testid": "review-status" });
  const form = h("form", { class: "review", "data-testid": "review-form" },
    h("label", {}, t("trap.target", { species: count.species || "—" }), target),
    h("label", {}, t("trap.total"), total), h("label", {}, t("trap.note"), note),
    h("button", { type: "submit" }, t("trap.save")), status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api(`${path}/review`, { method: "POST", body: { target: Number(target.value), total: Number(total.value),
        note: note.value || null } });
      await onDone();
    } catch (err) {
      status.replaceChildren(notice(err.message, "warn"));
    }
  });
  return form;
}

export async function render(root, ctx) {
  const [node, seq] = ctx.args;
  const path = `/pests/counts/${encodeURIComponent(node)}/${encodeURIComponent(seq)}`;
  const photo = h("img", { alt: t("trap.alt", { node }) });
  const frame = h("div", { class: "trap-frame" }, photo);
  const side = h("div", {});
  root.append(h("h1", {}, t("trap.title", { node, seq })), h("div", { class: "grid two" }, card(t("trap.photo"), frame),
    side));
  const load = async () => {
    const count = await api(path);
    root.dataset.objects = String(count.objects.length);
    root.dataset.target = String(count.reviewed_target ?? count.target);
    side.replaceChildren(card(t("trap.count"), h("p", { class: "muted small" }, dateTime(count.ts_ms), " · ",
      h("code", {}, count.method)), summary(count), ctx.can("review") ? reviewForm(count, path, load) : null),
    card(t("trap.history"), history(count.reviews)));
    return count;
  };
  const count = await load();
  const blob = await apiBlob(`/images/${encodeURIComponent(node)}/${encodeURIComponent(seq)}/content`);
  const url = URL.createObjectURL(blob);
  await new Promise((done) => {
    photo.addEventListener("load", done, { once: true });
    photo.addEventListener("error", done, { once: true });
    photo.src = url;
  });
  URL.revokeObjectURL(url);
  frame.append(outlines(count, photo.naturalWidth, photo.naturalHeight));
}
