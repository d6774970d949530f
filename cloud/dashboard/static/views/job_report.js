// The operator's report on the task in hand (issue 20, POST /tasks/{task}/report): working with the share
// done as they see it, done, or a breakdown with a note. Done and breakdown make the server plan again and
// keep the plan; the job page then follows the new plan (its "dispatch" event).

import { api } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";

export function reportCard(task) {
  const status = h("p", { class: "small muted", "data-testid": "report-status", role: "status" });
  const pct = h("input", { type: "number", min: "0", max: "100", step: "5", inputmode: "numeric",
    "data-testid": "report-pct", "aria-label": t("job.report.pct") });
  const note = h("input", { type: "text", maxlength: "400", "data-testid": "report-note",
    "aria-label": t("job.report.note"), placeholder: t("job.report.note") });
  const buttons = [];
  const send = async (report) => {
    buttons.forEach((b) => { b.disabled = true; });
    status.textContent = t("job.report.sending");
    const body = { report, note: note.value.trim() || null };
    if (report === "working" && pct.value !== "") body.done_pct = Number(pct.value);
    try {
      const out = await api(`/tasks/${encodeURIComponent(task)}/report`, { method: "POST", body });
      status.dataset.report = report;
      status.textContent = out.replan_error ? t("job.report.kept-no-plan", { why: out.replan_error })
        : t(`job.report.sent.${report}`);
    } catch (err) {
      status.textContent = err.message;
    }
    buttons.forEach((b) => { b.disabled = false; });
  };
  for (const [report, cls] of [["working", ""], ["done", ""], ["breakdown", "danger"]]) {
    buttons.push(h("button", { class: cls, "data-report": report, onclick: () => send(report) },
      t(`job.report.${report}`)));
  }
  return h("section", { class: "card job-report", "data-task": task },
    h("h3", {}, t("job.report.title")),
    h("p", {}, h("label", {}, t("job.report.pct"), " ", pct)),
    h("p", {}, note),
    h("p", { class: "buttons" }, buttons),
    status);
}
