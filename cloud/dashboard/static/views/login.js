// Log in with a name and password (POST /auth/login) or with an API token; both give a
// bearer token, which is kept for this browser tab only (sessionStorage).

import { ApiError, api, isMissingRoute, problems } from "../api.js";
import { loggedIn } from "../app.js";
import { h, notice } from "../dom.js";
import { t } from "../i18n.js";

export async function render(root) {
  const msg = h("div", { "aria-live": "assertive" });
  const show = (text, kind = "error") => msg.replaceChildren(notice(text, kind));

  async function useToken(token, expires_ms) {
    const me = await api("/auth/me", { token });
    await loggedIn({ token, name: me.name, role: me.role, expires_ms }, me);
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
        if (r.status === 404) return show(t("login.no-password-login"));
        const body = await r.json().catch(() => ({}));
        if (r.status === 429) return show(t("login.too-many", { seconds: r.headers.get("Retry-After") || "?" }));
        if (!r.ok) return show(t("login.refused", { reason: problems(body.detail) || r.status }));
        await useToken(body.token, body.expires_ms);
      } catch (err) {
        show(err instanceof ApiError && !isMissingRoute(err) ? err.message : t("login.failed", { error: err.message }));
      }
    },
  }, h("label", {}, t("login.name"), name), h("label", {}, t("login.password"), password),
  h("button", { type: "submit", "data-testid": "password-login" }, t("login.submit")));

  const token = h("input", { name: "token", autocomplete: "off", placeholder: "fw_…", required: true });
  const tokenForm = h("form", {
    class: "stack",
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await useToken(token.value.trim());
      } catch (err) {
        show(err.status === 401 ? t("login.bad-token") : err.message);
      }
    },
  }, h("label", {}, t("login.token"), token), h("button", { type: "submit", "data-testid": "token-login" }, t("login.use-token")));

  root.append(
    h("h1", {}, t("login.title")),
    msg,
    h("div", { class: "grid two" },
      h("section", { class: "card" }, h("h3", {}, t("login.with-password")), pwForm),
      h("section", { class: "card" }, h("h3", {}, t("login.token")),
        h("p", { class: "muted small" }, t("login.token-help"), " ", h("code", {}, "furrow cloud token create --role ROLE")),
        tokenForm)),
  );
}
