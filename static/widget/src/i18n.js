/* i18n.js: the end user's language. English is built in (EN_STRINGS: build.py puts
 * locales/en.json here); another language's strings load on demand, after consent, from
 * static/widget/locales/<lang>.js (generated from <lang>.json), which calls signet._l(lang, strings).
 * The language comes from the script's data-locale, else the browser's languages; dates and
 * times use the visitor's locale through Intl. */

var T = EN_STRINGS;
var LANGS = ["en", "de", "fr", "es", "pt", "ja"];
var L = {};
var LANG = "en";
var LOCALE;
[script.getAttribute("data-locale")].concat(navigator.languages || [navigator.language]).some((tag) => {
  var l = String(tag || "").toLowerCase().split(/[-_]/)[0];
  if (LANGS.indexOf(l) < 0) return false;
  LANG = l;
  try {
    LOCALE = Intl.DateTimeFormat.supportedLocalesOf(tag)[0];
  } catch (_) {}
  return true;
});
LOCALE = LOCALE || LANG;
var missing = new Set();

/* The text for `key` in the visitor's language ({name} placeholders filled from `v`); a key the
 * loaded language lacks falls back to English and is reported once on the console. */
function t(key, v) {
  var s = L[key];
  if (s == null) {
    s = T[key];
    if (LANG !== "en" && L.$ && !missing.has(key)) {
      missing.add(key);
      warn("missing_translation", LANG + ": " + key);
    }
  }
  return String(s == null ? key : s).replace(/\{(\w+)\}/g, (_, n) => str(v && v[n]));
}

/* Static markup carries data-t (text), data-a (aria-label) and data-p (placeholder) keys. */
function tr(root) {
  root.querySelectorAll("[data-t],[data-a],[data-p]").forEach((e) => {
    if (e.dataset.t) e.textContent = t(e.dataset.t);
    if (e.dataset.a) e.setAttribute("aria-label", t(e.dataset.a));
    if (e.dataset.p) e.placeholder = t(e.dataset.p);
  });
}

var BUS = new EventTarget();

/* Load the visitor's language once requests are allowed; elements redraw on "locale". */
function loadLocale() {
  if (LANG === "en") return;
  var s = doc.createElement("script");
  s.src = new URL(script.src, location.href).origin + "/static/widget/locales/" + LANG + ".js";
  s.async = true;
  s.onerror = () => warn("locale_unavailable", LANG);
  doc.head.appendChild(s);
}
