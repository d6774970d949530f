// A zone's image timeline: its camera nodes' newest photos as thumbnails, newest first, each with
// when it was taken and what of (canopy, trap card); a click opens the whole photo. The images
// come from GET /images?zone=... and their thumbnail and content routes, fetched with the
// reader's token (api.js: apiBlob).

import { api, apiBlob } from "../api.js";
import { card, h, notice } from "../dom.js";
import { dateTime } from "../fmt.js";
import { t, tr } from "../i18n.js";

const SHOWN = 24; // two rows on a wide screen; older photos are a query away (the API's start/end)

// The card, filled once the list and its thumbnails are in (the zone page awaits it).
export async function imageTimeline(zoneId) {
  const box = card(t("images.title"));
  box.dataset.card = "images";
  let images;
  try {
    images = await api(`/images?zone=${encodeURIComponent(zoneId)}&limit=${SHOWN}`);
  } catch (err) {
    box.append(notice(err.message, "warn"));
    return box;
  }
  if (!images.length) {
    box.append(h("p", { class: "muted" }, t("images.none")));
    return box;
  }
  const strip = h("div", { class: "image-strip", "data-testid": "image-timeline" });
  box.append(strip);
  await Promise.all(images.map(async (image) => strip.append(await thumbnail(image))));
  // appended as each thumbnail arrived: put them back in the API's order, newest first
  for (const image of images) strip.append(strip.querySelector(`[data-image="${image.node}/${image.seq}"]`));
  return box;
}

async function thumbnail(image) {
  const path = `/images/${encodeURIComponent(image.node)}/${image.seq}`;
  const img = h("img", { alt: t("images.alt", { kind: tr("image_kind", image.kind), time: dateTime(image.ts_ms) }),
    loading: "lazy" });
  try {
    show(img, await apiBlob(`${path}/thumbnail`));
  } catch (err) {
    img.alt = err.message;
  }
  return h("button", { class: "image-thumb", type: "button", "data-image": `${image.node}/${image.seq}`,
    title: t("images.open"), onclick: () => openFull(image, path) },
  img, h("span", { class: "small" }, dateTime(image.ts_ms)),
  h("span", { class: "small muted" }, tr("image_kind", image.kind), " · ", image.node));
}

// The whole photo in a modal dialog.
async function openFull(image, path) {
  const img = h("img", { alt: t("images.alt", { kind: tr("image_kind", image.kind), time: dateTime(image.ts_ms) }) });
  const close = h("button", { type: "button", class: "secondary" }, t("images.close"));
  const dialog = h("dialog", { class: "image-full", "data-testid": "image-full" },
    h("p", {}, t("images.caption", { kind: tr("image_kind", image.kind), node: image.node, time: dateTime(image.ts_ms),
      width: image.width, height: image.height })), img, close);
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  try {
    show(img, await apiBlob(`${path}/content`));
  } catch (err) {
    img.replaceWith(notice(err.message, "warn"));
  }
}

// The image shows the blob's bytes; once decoded they are released (the picture stays on the page).
function show(img, blob) {
  const url = URL.createObjectURL(blob);
  img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
  img.src = url;
}
