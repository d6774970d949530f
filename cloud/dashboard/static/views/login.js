// Log in with a name and password (POST /auth/login) or with an API token; both give a
// bearer token, which is kept for this browser tab only (sessionStorage).

import { ApiError, api, isMissingRoute, problems } from "../api.js";
import { loggedIn } from "../app.js";
import { h, notice } from "../dom.js";

export async function render(root) {
  const msg = h("div", { "aria-live": "assertive" });
  const show = (text, kind = "error") => msg.replaceChildren(notice(text, kind));

  async function useToken(token, expires_ms) {
    const me = await api("/auth/me", { token });
    await loggedIn({ token, name: me.name, role: me.role, expires_ms });
  }

  const name = h("input", { name: "name", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const pwForm = h("form", {
    class: "stack",
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const r = await fetch("/api/v1/auth/login", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ name: name.value, password: password.value }),
        });
        if (r.status === 404) return show("Password login is not available on this server; use an API token.");
        const body = await r.json().catch(() => ({}));
        if (r.status === 429) return show(`Too many failed logins; wait ${r.headers.get("Retry-After") || "a while"} s.`);
        if (!r.ok) return show(`Login refused: ${problems(body.detail) || r.status}`);
        await useToken(body.token, body.expires_ms);
      } catch (err) {
        show(err instanceof ApiError && !isMissingRoute(err) ? err.message : `Login failed: ${err.message}`);
      }
    },
  }, h("label", {}, "Name", name), h("label", {}, "Password", password), h("button", { type: "submit" }, "Log in"));

  const token = h("input", { name: "token", autocomplete: "off", placeholder: "fw_…", required: true });
  const tokenForm = h("form", {
    class: "stack",
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await useToken(token.value.trim());
      } catch (err) {
        show(err.status === 401 ? "That token is not valid (unknown, expired or revoked)." : err.message);
      }
    },
  }, h("label", {}, "API token", token), h("button", { type: "submit" }, "Use token"));

  root.append(
    h("h1", {}, "Log in"),
    msg,
    h("div", { class: "grid two" },
      h("section", { class: "card" }, h("h3", {}, "Name and password"), pwForm),
      h("section", { class: "card" }, h("h3", {}, "API token"),
        h("p", { class: "muted small" }, "From `furrow cloud token create --role ROLE`, or an admin."), tokenForm)),
  );
}
