/* loader.js: runs first. Keeps a second copy of signet.js from starting twice, checks the
 * browser, reads data-* from its own <script> (tenant, API base), and replays the
 * window.signet stub's queue. A fragment: build.py wraps every src/ file in one shared IIFE. */

var doc = document;
var prior = window.signet;
var Loaded = window.customElements && customElements.get("signet-messenger");
var running = prior && prior.__signet ? prior : Loaded && Loaded.signet;
if (running) {
  // Loaded twice: keep the first instance, but run what a fresh stub queued meanwhile.
  if (prior !== running) {
    window.signet = running;
    replay(running, prior && prior._q);
  }
  return;
}
if (!window.customElements || !window.fetch || !window.AbortController) {
  warn("unsupported_browser", "this browser lacks custom elements or fetch");
  return;
}

var script = doc.currentScript;
if (!script || !script.hasAttribute("data-tenant")) {
  script = doc.querySelector('script[src*="/static/widget/signet.js"][data-tenant]');
}
var tenant = script && script.getAttribute("data-tenant");
if (!tenant) {
  warn("missing_tenant", "add data-tenant to the signet.js <script> tag");
  return;
}
var BASE = new URL(script.src, location.href).origin + "/api/v1/widget/" + encodeURIComponent(tenant);
var COOKIE = "signet_vid_" + tenant;
var SEEN = "signet_seen_" + tenant;
// data-consent="required": no cookie, no storage and no request to Signet before signet.consent(true)
// (or a click on the launcher). GATE holds every Session's requests until then.
var consented = script.getAttribute("data-consent") !== "required";
var letIn;
var GATE = consented ? Promise.resolve() : new Promise((r) => (letIn = r));
// Rejection reason for answers that belong to an identity that is no longer current;
// elements drop it silently.
var SUPERSEDED = { code: "superseded", message: "A newer identification replaced this one." };
// Set-user refusals that are about the user the page named (not the network or the workspace).
var REFUSED = /^(token_|unknown_(user|field)|invalid_(field|json)|verification_required|login_links_disabled|seat_limit_reached)/;
// Set-user refusals after which a token provider is asked once more before giving up.
var STALE = /^(session_invalid|token_(expired|replayed|not_yet_valid))$/;
var reported = new WeakSet();

function noop() {}

function err(code, message, field) {
  var e = { code: code, message: message };
  if (field) e.field = field;
  return e;
}

function warn(code, message) {
  try {
    console.warn("[signet]", code, message);
  } catch (_) {}
}

/* Replay a stub's queue: `on` entries first, then the calls in order. An entry of the
 * current stub is [method, arg, arg2, resolve, reject]: its Promise settles as if the call
 * had been made after loading. Entries of the earlier stub have no Promise. */
function replay(api, queue) {
  for (var pass = 0; pass < 2; pass++) {
    for (var i = 0; queue && i < queue.length; i++) {
      if (queue[i] && (queue[i][0] === "on") === !pass) run(api, queue[i]);
    }
  }
}

function run(api, item) {
  var ok = item && typeof item[3] === "function" ? item[3] : noop;
  var ko = item && typeof item[4] === "function" ? item[4] : noop;
  try {
    if (!item || !/^(setUser|logout|consent|on|off)$/.test(item[0])) throw err("unknown_method", "signet has no method " + (item && item[0]) + ".");
    var p = api[item[0]](item[1], item[2]);
    // Failures of queued calls were already reported; never leave a rejection unhandled.
    if (p && typeof p.then === "function") p.then(ok, ko);
    else ok(p);
  } catch (e) {
    warn("queue_error", e && e.message);
    ko(e && e.code ? e : err("queue_error", String(e && e.message)));
  }
}
