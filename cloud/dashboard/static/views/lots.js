// Harvest lots and their publishing (docs/traceability.md, 3a). #/lots lists the lots the production records
// name (a harvest record's lot); #/lots/<lot> shows one: what it rests on, whether it is published, and for
// agronomists and admins the choice of what its public page shows, Publish and Withdraw. Once published, the
// public address and its QR code (the one printed on the report) are shown. The printable report is a page of
// the service (HTML): fetched with the reader's token and opened in a new window to print.

import { api, apiBlob, isMissingRoute } from "../api.js";
import { card, h, notice, table } from "../dom.js";
import { dateTime, num } from "../fmt.js";
import { locale, t } from "../i18n.js";

// cloud/trace/publish.py PublishItem, in the order the public page shows them
const ITEMS = ["crop", "fields", "region", "area", "boundaries", "sowing_dates", "harvest_dates", "quantity",
  "seed_lots", "inputs", "water", "verification"];
const CAN_PUBLISH = ["agronomist", "admin"]; // RECORDS_WRITE in cloud/auth/roles.py

const lang = () => (locale().startsWith("zh") ? "zh" : "en");
const enc = encodeURIComponent;
const kg = (v) => (v == null ? "—" : t("lots.kg", { n: num(v, 0) }));

// Every lot a harvest record names, newest harvest first: {lot, field, season, occurred_ms, quantity_kg}.
async function harvests() {
  const chains = await api("/trace/chains");
  const out = [];
  for (const c of chains) {
    const records = await api(`/trace/records?field=${enc(c.field)}&season=${enc(c.season)}`);
    const voided = new Set(records.filter((r) => r.kind === "void").map((r) => r.corrects));
    for (const r of records) {
      if (r.kind === "harvest" && r.lot && !voided.has(r.seq)) {
        out.push({ lot: r.lot, field: r.field, season: r.season, occurred_ms: r.occurred_ms,
          quantity_kg: r.data.quantity_kg });
      }
    }
  }
  return out.sort((a, b) => b.occurred_ms - a.occurred_ms);
}

// The fields' names by id (a lot names its fields by id; a reader knows them by name)
async function fieldNames() {
  try {
    return Object.fromEntries((await api("/registry/fields")).map((f) => [f.id, f.name || f.id]));
  } catch {
    return {};
  }
}

async function renderList(root) {
  const [lots, names] = await Promise.all([harvests(), fieldNames()]);
  root.append(h("h2", {}, t("lots.title")), h("p", { class: "small muted" }, t("lots.help")));
  if (!lots.length) {
    root.append(notice(t("lots.none")));
    return;
  }
  const rows = lots.map((l) => h("tr", { "data-lot": l.lot },
    h("td", {}, h("a", { href: `#/lots/${enc(l.lot)}` }, l.lot)), h("td", {}, names[l.field] || l.field), h("td", {}, l.season),
    h("td", {}, dateTime(l.occurred_ms)),
    h("td", {}, kg(l.quantity_kg))));
  root.append(table([t("lots.lot"), t("lots.field"), t("lots.season"), t("lots.harvested"), t("lots.quantity")],
    rows, { "data-testid": "lot-list" }));
}

// The report's HTML, as the service makes it for this reader's language, split into its style sheet and the
// rest: this page's content security policy refuses inline styles, even in a document only parsed.
const STYLE = /<style>([\s\S]*?)<\/style>/g;

async function report(lot) {
  const html = await (await apiBlob(`/trace/lots/${enc(lot)}/report?lang=${lang()}`)).text();
  return { css: [...html.matchAll(STYLE)].map((m) => m[1]).join("\n"), html: html.replace(STYLE, "") };
}

// The report in a window of its own, to read and print: written into the new (same-origin, blank) window,
// which inherits this page's policy too, so its style sheet is given to it as a constructed sheet, which the
// policy does not govern.
async function openReport(lot) {
  const win = window.open("", "_blank"); // now, while the click still allows a new window
  const { css, html } = await report(lot);
  win.document.open();
  win.document.write(html);
  win.document.close();
  const sheet = new win.CSSStyleSheet();
  sheet.replaceSync(css);
  win.document.adoptedStyleSheets = [sheet];
  win.document.documentElement.dataset.styled = "1";
}

// The QR code printed on the report (the service draws it), shown here as an image.
async function qrOf(lot) {
  const doc = new DOMParser().parseFromString((await report(lot)).html, "text/html");
  return doc.querySelector(".qr img")?.getAttribute("src") || null;
}

async function renderLot(root, lotId, ctx) {
  let lot;
  try {
    lot = await api(`/trace/lots/${enc(lotId)}`);
  } catch (err) {
    if (err.status === 404) {
      root.append(h("p", {}, h("a", { href: "#/lots" }, t("lots.back"))), notice(t("lots.unknown", { lot: lotId }), "warn"));
      return;
    }
    throw err;
  }
  let pub = null;
  try {
    pub = await api(`/trace/lots/${enc(lotId)}/publication`);
  } catch (err) {
    if (err.status !== 404 || isMissingRoute(err)) throw err;
  }
  const defaults = (await api("/trace/publication-default")).items;
  const may = CAN_PUBLISH.includes(ctx.session.role);

  root.append(h("p", {}, h("a", { href: "#/lots" }, t("lots.back"))),
    h("h2", {}, t("lots.lot-title", { lot: lot.lot })));
  root.append(card(t("lots.summary"), h("dl", { class: "facts", "data-testid": "lot-summary" },
    h("dt", {}, t("lots.fields")), h("dd", {}, lot.fields.map((id) => lot.harvests?.find((x) => x.field?.id === id)?.field?.name || id)
      .join(t("punct.list"))),
    h("dt", {}, t("lots.quantity")), h("dd", {}, kg(lot.quantity_kg)),
    h("dt", {}, t("lots.verified")), h("dd", { "data-verified": String(lot.verified) },
      lot.verified ? t("lots.verified-yes") : t("lots.verified-no")))));

  const status = h("div", { "data-testid": "publication" });
  const message = h("p", { class: "small", "data-testid": "publish-status" });
  const boxes = ITEMS.map((item) => h("input", { type: "checkbox", name: "item", value: item, "data-item": item }));
  const setBoxes = (items) => boxes.forEach((b) => { b.checked = items.includes(b.value); });

  async function showStatus() {
    status.dataset.published = pub ? "1" : "0";
    if (!pub) {
      status.replaceChildren(notice(t("lots.not-published")));
      setBoxes(defaults);
      return;
    }
    setBoxes(pub.items);
    const qr = await qrOf(lotId);
    status.replaceChildren(
      h("p", {}, t("lots.public-address"), " ",
        h("a", { href: pub.url, target: "_blank", rel: "noopener noreferrer", "data-testid": "public-url" }, pub.url)),
      qr ? h("img", { src: qr, alt: t("lots.qr"), width: 180, height: 180, "data-testid": "lot-qr" }) : null,
      h("p", { class: "small muted" }, t("lots.shows"), " ",
        pub.items.map((i) => t(`lots.item.${i}`)).join(t("punct.list"))));
  }
  await showStatus();

  const reportButton = h("button", { type: "button", "data-testid": "open-report",
    onclick: () => openReport(lotId).catch((err) => message.replaceChildren(notice(err.message, "warn"))) },
  t("lots.open-report"));
  const section = card(t("lots.publishing"), h("p", { class: "small muted" }, t("lots.publishing-help")), status,
    reportButton);
  section.dataset.testid = "lot-publishing";
  root.append(section);
  if (!may) {
    section.append(h("p", { class: "small muted" }, t("lots.agronomists-only", { role: t(`role.${ctx.session.role}`) })));
    return;
  }
  const publish = h("button", { type: "submit", "data-testid": "publish" }, t("lots.publish"));
  const withdraw = h("button", { type: "button", class: "secondary", "data-testid": "withdraw" }, t("lots.withdraw"));
  const form = h("form", { class: "entry", "data-testid": "publish-form" },
    h("h4", {}, t("lots.choose")),
    h("div", { class: "checks" }, boxes.map((b) => h("label", { "data-label": b.value }, b, " ", t(`lots.item.${b.value}`)))),
    h("p", { class: "small muted" }, t("lots.choose-help")), publish, " ", withdraw, message);
  const sync = () => { withdraw.disabled = !pub; };
  sync();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const items = boxes.filter((b) => b.checked).map((b) => b.value);
    try {
      pub = await api(`/trace/lots/${enc(lotId)}/publication`, { method: "POST", body: { items } });
      message.replaceChildren(notice(t("lots.published")));
      await showStatus();
    } catch (err) {
      message.replaceChildren(notice(err.message, "warn"));
    }
    sync();
  });
  withdraw.addEventListener("click", async () => {
    try {
      await api(`/trace/lots/${enc(lotId)}/publication`, { method: "DELETE" });
      pub = null;
      message.replaceChildren(notice(t("lots.withdrawn")));
      await showStatus();
    } catch (err) {
      message.replaceChildren(notice(err.message, "warn"));
    }
    sync();
  });
  section.append(form);
}

export async function render(root, ctx) {
  if (ctx.args[0]) await renderLot(root, ctx.args[0], ctx);
  else await renderList(root);
}
