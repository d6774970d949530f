// The API client: the session's bearer token on every request, errors that say what happened,
// and the live event stream read with fetch() (so the token stays in a header, never a URL).

import { t } from "./i18n.js";

const KEY = "furrow.session";

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

export function saveSession(s) {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, detail, path) {
    super(describe(status, detail));
    this.status = status;
    this.detail = detail;
    this.path = path;
  }
}

// Every API error is {"detail": [{field, value, reason}, ...]} (docs/cloud.md, "Errors"). The
// server's reasons are in English (they are for logs and scripts too); the words around them
// are the reader's.
export function problems(detail) {
  if (!Array.isArray(detail)) return detail ? String(detail) : "";
  return detail.map((d) => {
    if (d.field === null || d.field === undefined) return d.reason;
    return d.value !== null && d.value !== undefined
      ? t("api.field-value", { field: d.field, reason: d.reason, value: JSON.stringify(d.value) })
      : t("api.field", { field: d.field, reason: d.reason });
  }).join(t("punct.clause"));
}

function describe(status, detail) {
  const text = problems(detail);
  if (status === 403) return t("api.forbidden", { reason: text });
  if (status === 401) return t("api.unauthorized", { reason: text });
  return text || t("api.http", { status });
}

export async function api(path, { method = "GET", body, token, signal } = {}) {
  const r = await request(path, { method, body, token, signal, accept: "application/json" });
  return r.status === 204 ? null : r.json();
}

// A binary answer (an image) as a Blob: an <img> cannot send the bearer token itself, so the
// page fetches the bytes and shows them through URL.createObjectURL.
export async function apiBlob(path, { signal } = {}) {
  return (await request(path, { signal, accept: "*/*" })).blob();
}

async function request(path, { method = "GET", body, token, signal, accept }) {
  const t = token || session()?.token;
  const headers = { Accept: accept };
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(`/api/v1${path}`, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) {
    let detail = null;
    try {
      detail = (await r.json()).detail;
    } catch {
      // not JSON
    }
    const err = new ApiError(r.status, detail, path);
    if (r.status === 401 && !token) window.dispatchEvent(new CustomEvent("furrow:unauthorized", { detail: err }));
    throw err;
  }
  return r;
}

// A route another part of the service adds (alerts, water balance, agronomy) may be missing
// on an older server: an unknown path is a 404 naming the field "path" (older servers: "Not Found").
export function isMissingRoute(err) {
  return err instanceof ApiError && err.status === 404
    && (err.detail === "Not Found" || (Array.isArray(err.detail) && err.detail[0]?.field === "path"));
}

export async function optional(path) {
  try {
    return { data: await api(path) };
  } catch (err) {
    if (isMissingRoute(err)) return { missing: true };
    return { error: err };
  }
}

// --- live events ------------------------------------------------------------------------

const listeners = new Map(); // kind -> Set(fn)

export function on(kind, fn) {
  if (!listeners.has(kind)) listeners.set(kind, new Set());
  listeners.get(kind).add(fn);
  return () => listeners.get(kind).delete(fn);
}

function dispatch(kind, data) {
  for (const fn of listeners.get(kind) || []) {
    try {
      fn(data);
    } catch (e) {
      console.error("live listener failed", kind, e);
    }
  }
}

// One SSE message: [kind, data, id] (id undefined when the message has none), or null.
function parseBlock(block) {
  let kind = "message";
  let id;
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) kind = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    else if (line.startsWith("id:")) id = line.slice(3).trim();
  }
  if (!data.length) return null;
  return [kind, JSON.parse(data.join("\n")), id];
}

// Each message's id is how far this browser has read; sent back as Last-Event-ID when the next
// stream opens (the server ends each one every 30 s), the server first hands over what was
// published in between, or says "lagged" when it no longer can (the page then loads afresh).
export function connectLive(onState) {
  let stopped = false;
  let ctrl = null;
  let lastId = null;
  (async () => {
    while (!stopped) {
      ctrl = new AbortController();
      let ended = false; // the server ends each stream after a while (a restart never waits on us): go on at once
      try {
        const t = session()?.token;
        const headers = { Authorization: `Bearer ${t}` };
        if (lastId !== null) headers["Last-Event-ID"] = lastId;
        const r = await fetch("/api/v1/events", { headers, signal: ctrl.signal });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            ended = true;
            break;
          }
          buf += value;
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const ev = parseBlock(buf.slice(0, i));
            buf = buf.slice(i + 2);
            if (!ev) continue;
            if (ev[2] !== undefined) lastId = ev[2];
            if (ev[0] === "hello") onState("live");
            dispatch(ev[0], ev[1]);
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      if (!ended) onState("reconnecting");
      await new Promise((res) => setTimeout(res, ended ? 100 : 3000));
    }
  })();
  return () => {
    stopped = true;
    ctrl?.abort();
    onState("offline");
  };
}
