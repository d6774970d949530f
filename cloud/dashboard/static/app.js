// The dashboard shell: login state, the hash router (#/view/arg?param=...), the live stream,
// the reader's language, and the time zone every view shows times in.

import { api, connectLive, on, saveSession, session } from "./api.js";
import { h, notice } from "./dom.js";
import { setTimeZone, timeZone } from "./fmt.js";
import { LOCALES, locale, preferredLocale, setLocale, t } from "./i18n.js";

const VIEWS = {
  login: () => import("./views/login.js"),
  overview: () => import("./views/overview.js"),
  zone: () => import("./views/zone.js"),
  irrigation: () => import("./views/irrigation.js"),
  alerts: () => import("./views/alerts.js"),
  nodes: () => import("./views/nodes.js"),
  node: () => import("./views/node.js"),
  bus: () => import("./views/bus.js"),
  machinery: () => import("./views/machinery.js"),
  progress: () => import("./views/progress.js"),
  dispatch: () => import("./views/dispatch.js"),
  job: () => import("./views/job.js"),
  trap: () => import("./views/trap.js"),
  lots: () => import("./views/lots.js"),
  regional: () => import("./views/regional.js"),
};

// A regional user (an extension service, a bureau) reads a region's aggregates and no farm: the regional page
// is theirs alone, and there is no farm's live stream or time zone to follow.
const REGIONAL = "regional";
const isRegional = (s) => s?.role === REGIONAL;
// An operator (a machine's driver, issue 20) opens on the job of the machine they drive (views/job.js).
const OPERATOR = "operator";
const home = (s) => (isRegional(s) ? "#/regional" : s?.role === OPERATOR ? "#/job" : "#/overview");
// The pages a role's menu holds when not the farm's: a regional user's region; an operator's job and the map of it
// (the server answers an operator its job only, cloud/tenancy/_job.py, so the farm's other pages have nothing).
const MENU = { [REGIONAL]: ["regional"], [OPERATOR]: ["job", "machinery"] };
const OWN_PAGES = ["regional", "job"]; // not in the farm's menu
const inMenu = (s, page) => (MENU[s?.role] ? MENU[s.role].includes(page) : !OWN_PAGES.includes(page));

// What each role may do, mirrored from cloud/auth/roles.py only to hide controls a role
// cannot use; the server enforces every one of them anyway (a 403 is shown as such).
const CAN = {
  plan: ["agronomist", "admin"],
  registry: ["technician", "admin"],
  read: ["technician", "agronomist", "admin"],
  review: ["technician", "agronomist", "admin"], // pest_review: correct a trap photo's count
  operations: ["technician", "agronomist", "admin"], // operations_write: record work, plan dispatch
  report: ["operator", "technician", "agronomist", "admin"], // task_report: progress, done, breakdown
};

export function can(what) {
  return CAN[what].includes(session()?.role);
}

let cleanup = null;
let stopLive = null;
let renderSeq = 0;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "") || home(session()).slice(2);
  const [path, query] = raw.split("?");
  const [name, ...args] = path.split("/").map(decodeURIComponent);
  return { name, args, params: new URLSearchParams(query || "") };
}

let liveState = "offline";

function showLive() {
  const el = document.getElementById("live");
  el.textContent = t(`live.${liveState}`);
  el.title = t("live.title");
  el.dataset.state = liveState;
  el.className = `live ${liveState}`;
}

function setLive(state) {
  // Events published while the stream was down are lost: show the page afresh once it is back.
  const resync = state === "live" && liveState === "reconnecting";
  liveState = state;
  if (resync) route();
  showLive();
}

function languagePicker() {
  return h("select", { id: "lang", "aria-label": t("language.label"), onchange: (e) => chooseLocale(e.target.value) },
    LOCALES.map((l) => h("option", { value: l, selected: l === locale() }, t(`language.${l}`))));
}

function header() {
  const s = session();
  const who = document.getElementById("who");
  who.replaceChildren();
  document.getElementById("nav").hidden = !s;
  document.querySelectorAll("[data-nav]").forEach((a) => { a.hidden = !inMenu(s, a.dataset.nav); });
  document.querySelector(".brand").setAttribute("href", home(s));
  if (s) {
    who.append(h("span", { "data-testid": "who" }, `${s.name} · ${t(`role.${s.role}`)}`), " ",
      h("button", { class: "link", onclick: logout }, t("nav.logout")));
  }
  document.getElementById("lang").replaceWith(languagePicker());
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.getElementById("foot").textContent = t("footer", { tz: timeZone() });
  document.title = t("app.title");
  showLive();
}

// The reader picked a language: shown at once, kept in this browser and, when she is logged
// in, with her user, so it follows her to another browser.
export async function chooseLocale(l) {
  await setLocale(l, { remember: true });
  route();
  if (session()) {
    try {
      await api("/auth/me/locale", { method: "PUT", body: { locale: locale() } });
    } catch (err) {
      console.warn("the language choice is kept in this browser only", err);
    }
  }
}

// After login or on a reload: her language kept on the server wins over this browser's;
// a choice made in this browser before she had one on the server is stored there.
async function userLocale(me) {
  if (me.locale && me.locale !== locale()) {
    await setLocale(me.locale, { remember: true });
  } else if (!me.locale && localStorage.getItem("furrow.locale")) {
    api("/auth/me/locale", { method: "PUT", body: { locale: locale() } }).catch(() => {});
  }
}

export function logout() {
  saveSession(null);
  stopLive?.();
  stopLive = null;
  location.hash = "#/login";
}

async function farmTimeZone() {
  try {
    const sites = await api("/registry/sites");
    if (sites.length) setTimeZone(sites[0].timezone);
  } catch {
    // keep the browser's zone; the footer says which
  }
}

export async function loggedIn(s, me) {
  saveSession(s);
  await userLocale(me);
  if (!isRegional(s)) {
    await farmTimeZone();
    if (!stopLive) stopLive = connectLive(setLive);
  }
  location.hash = home(s);
}

async function route() {
  const seq = ++renderSeq;
  const { name, args, params } = parseHash();
  const main = document.getElementById("main");
  cleanup?.();
  cleanup = null;
  const s = session();
  if (!s && name !== "login") {
    location.hash = "#/login";
    return;
  }
  header();
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === name));
  if (s && MENU[s.role] && !MENU[s.role].includes(name)) {
    location.hash = home(s); // a farm's other pages have nothing for a regional user or an operator
    return;
  }
  if (s && s.role === "gateway") {
    main.replaceChildren(notice(t("app.gateway-token"), "error"), h("button", { onclick: logout }, t("nav.logout")));
    return;
  }
  const load = VIEWS[name];
  if (!load) {
    main.replaceChildren(notice(t("app.no-page", { name }), "error"));
    return;
  }
  const view = await load();
  if (seq !== renderSeq) return;
  const root = h("div", { class: `view view-${name}`, "data-view": name });
  main.replaceChildren(root);
  const subs = [];
  const ctx = { args, params, session: s, can, on: (k, fn) => subs.push(on(k, fn)) };
  try {
    const done = await view.render(root, ctx);
    root.dataset.rendered = "1"; // for the browser tests: the page has everything it fetched
    cleanup = () => {
      subs.forEach((off) => off());
      if (typeof done === "function") done();
    };
  } catch (err) {
    subs.forEach((off) => off());
    root.append(notice(t("app.page-failed", { error: err.message }), "error"));
    console.error(err);
  }
}

window.addEventListener("furrow:unauthorized", () => {
  saveSession(null);
  location.hash = "#/login";
});
window.addEventListener("hashchange", route);
on("lagged", () => route()); // this browser fell behind the events: show the page afresh

(async () => {
  await setLocale(preferredLocale());
  if (session()) {
    try {
      await userLocale(await api("/auth/me"));
    } catch (err) {
      console.warn("who am I", err); // a 401 logs out (furrow:unauthorized)
    }
    if (!isRegional(session())) {
      await farmTimeZone();
      stopLive = connectLive(setLive);
    }
  }
  route();
})();
