// The dashboard shell: login state, the hash router (#/view/arg?param=...), the live stream,
// and the time zone every view shows times in.

import { api, connectLive, on, saveSession, session } from "./api.js";
import { h, notice } from "./dom.js";
import { setTimeZone, timeZone } from "./fmt.js";

const VIEWS = {
  login: () => import("./views/login.js"),
  overview: () => import("./views/overview.js"),
  zone: () => import("./views/zone.js"),
  irrigation: () => import("./views/irrigation.js"),
  alerts: () => import("./views/alerts.js"),
  nodes: () => import("./views/nodes.js"),
  node: () => import("./views/node.js"),
  bus: () => import("./views/bus.js"),
};

// What each role may do, mirrored from cloud/auth/roles.py only to hide controls a role
// cannot use; the server enforces every one of them anyway (a 403 is shown as such).
const CAN = {
  plan: ["agronomist", "admin"],
  registry: ["technician", "admin"],
  read: ["technician", "agronomist", "admin"],
};

export function can(what) {
  return CAN[what].includes(session()?.role);
}

let cleanup = null;
let stopLive = null;
let renderSeq = 0;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "") || "overview";
  const [path, query] = raw.split("?");
  const [name, ...args] = path.split("/").map(decodeURIComponent);
  return { name, args, params: new URLSearchParams(query || "") };
}

let liveState = "offline";

function setLive(state) {
  // Events published while the stream was down are lost: show the page afresh once it is back.
  const resync = state === "live" && liveState === "reconnecting";
  liveState = state;
  if (resync) route();
  const el = document.getElementById("live");
  el.textContent = state;
  el.className = `live ${state}`;
}

function header() {
  const s = session();
  const who = document.getElementById("who");
  who.replaceChildren();
  document.getElementById("nav").hidden = !s;
  if (s) {
    who.append(h("span", { "data-testid": "who" }, `${s.name} · ${s.role}`), " ",
      h("button", { class: "link", onclick: logout }, "Log out"));
  }
  document.getElementById("foot").textContent = `Times in ${timeZone()}. Furrow dashboard.`;
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

export async function loggedIn(s) {
  saveSession(s);
  await farmTimeZone();
  if (!stopLive) stopLive = connectLive(setLive);
  location.hash = "#/overview";
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
  if (s && s.role === "gateway") {
    main.replaceChildren(notice("This token belongs to a gateway; the dashboard is for people. " +
      "Log in as a technician, agronomist or admin.", "error"), h("button", { onclick: logout }, "Log out"));
    return;
  }
  const load = VIEWS[name];
  if (!load) {
    main.replaceChildren(notice(`No page ${name}.`, "error"));
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
    cleanup = () => {
      subs.forEach((off) => off());
      if (typeof done === "function") done();
    };
  } catch (err) {
    subs.forEach((off) => off());
    root.append(notice(`Could not show this page: ${err.message}`, "error"));
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
  if (session()) {
    await farmTimeZone();
    stopLive = connectLive(setLive);
  }
  route();
})();
