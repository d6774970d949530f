// The dashboard's languages. Every text a page shows comes from a catalogue, i18n/<locale>.json
// (flat "key": "text with {values}"; docs/dashboard.md has the translator's guide), through t().
// The reader's language: her choice (kept with her user on the server, and in this browser),
// else the first of the browser's languages the dashboard speaks, else English.
//
// A key missing from the reader's catalogue shows the English text and is counted in
// window.__furrowI18n.missing, which the browser tests check is empty.

export const LOCALES = ["zh-CN", "en"]; // each has i18n/<locale>.json; the server lists the same files
const FALLBACK = "en";
const STORE_KEY = "furrow.locale";
// Intl's locale for each: English dates day-month-year as before
const INTL = { en: "en-GB", "zh-CN": "zh-CN" };

let current = FALLBACK;
let texts = {};
let fallback = {};
const missing = new Set();
window.__furrowI18n = { missing, locale: () => current };

async function fetchCatalogue(locale) {
  const r = await fetch(`/app/i18n/${locale}.json`);
  if (!r.ok) throw new Error(`catalogue ${locale}: HTTP ${r.status}`);
  return r.json();
}

// The locale to start with: this browser's remembered choice, else its languages.
export function preferredLocale() {
  const stored = localStorage.getItem(STORE_KEY);
  if (LOCALES.includes(stored)) return stored;
  return matchLocale(navigator.languages || [navigator.language]) || FALLBACK;
}

// The first of `wanted` (BCP 47 tags, most wanted first) the dashboard speaks: zh, zh-CN,
// zh-Hans-CN and zh-SG read Simplified Chinese; zh-TW and zh-HK are not offered it.
export function matchLocale(wanted) {
  for (const tag of wanted) {
    const lower = String(tag).toLowerCase();
    if (lower === "zh" || lower.startsWith("zh-cn") || lower.startsWith("zh-hans") || lower.startsWith("zh-sg")) {
      return "zh-CN";
    }
    if (lower.startsWith("en")) return "en";
  }
  return null;
}

// Load `locale`'s catalogue and make it the one t() reads; `remember` keeps it in this browser.
export async function setLocale(locale, { remember = false } = {}) {
  const want = LOCALES.includes(locale) ? locale : FALLBACK;
  if (!Object.keys(fallback).length) fallback = await fetchCatalogue(FALLBACK);
  let chosen = want;
  try {
    texts = want === FALLBACK ? fallback : await fetchCatalogue(want);
  } catch (err) {
    console.error(`i18n: ${want} could not be loaded, showing English`, err);
    [texts, chosen] = [fallback, FALLBACK];
  }
  current = chosen;
  missing.clear();
  document.documentElement.lang = chosen;
  if (remember) localStorage.setItem(STORE_KEY, chosen);
  return chosen;
}

export function locale() {
  return current;
}

export function intlLocale() {
  return INTL[current] || current;
}

export function has(key) {
  return key in texts;
}

// The text of `key` in the reader's language, its {name} places filled from `params`.
export function t(key, params) {
  let text = texts[key];
  if (text === undefined) {
    missing.add(key);
    console.warn(`i18n: no "${key}" in ${current}`);
    text = fallback[key] ?? key;
  }
  return params ? fill(text, params) : text;
}

// The translation of an enumerated value (a stage, a soil texture, a state): `kind.value`
// from the catalogue, the value itself (data) when the catalogue has none.
export function tr(kind, value) {
  if (value === null || value === undefined) return "—";
  const key = `${kind}.${value}`;
  return key in texts ? texts[key] : String(value);
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d/;

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? value(name, params[name]) : whole));
}

function value(name, v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) {
    const messages = v.some((x) => x && typeof x === "object");
    // a list of crops ("crops") translates each as a crop
    return v.map((x) => value(name === "crops" ? "crop" : name, x)).join(t(messages ? "punct.clause" : "punct.list"));
  }
  if (typeof v === "object" && "key" in v) return message(v);
  if (typeof v === "number") return number(v);
  if (typeof v === "string" && ISO_TIME.test(v)) return formatInstant(Date.parse(v));
  return tr(name, v);
}

// A message the server sent as {key, params} (an alert's, a decision's part), in the reader's
// language; `english` when it has no key (a record from before keys).
export function message(record, english = "") {
  if (!record || !record.key) return english;
  if (!(record.key in texts) && !(record.key in fallback)) return english || record.key;
  return t(record.key, record.params || {});
}

// Several messages in a row, the way the language joins clauses.
export function messages(records, english = "") {
  if (!Array.isArray(records) || !records.length) return english;
  return records.map((m) => message(m)).join(t("punct.clause"));
}

export function number(v, digits = null) {
  const opts = digits === null ? { maximumFractionDigits: 2 } : { minimumFractionDigits: digits, maximumFractionDigits: digits };
  return new Intl.NumberFormat(intlLocale(), opts).format(v);
}

// Set by fmt.js: instants are shown in the farm's time zone.
let formatInstant = (ms) => new Date(ms).toISOString();
export function useInstantFormat(fn) {
  formatInstant = fn;
}
