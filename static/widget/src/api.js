/* api.js: the API client. The one fetch helper, message ids, retries of creating writes,
 * and revoking a session. */

/* The one fetch helper: JSON in, JSON out, bearer auth, never cookies. Rejects with the
 * API's {code, message, field?} error object. */
function api(method, url, body, token, signal, headers) {
  var h = Object.assign({}, headers);
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (token) h.Authorization = "Bearer " + token;
  var init = { method: method, headers: h, mode: "cors", credentials: "omit", cache: "no-store", signal: signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(url, init).then((res) => res.text().then((text) => {
    var data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {}
    if (res.ok) return data;
    var e = data && data.error, s = res.status;
    if (e && typeof e.code === "string") throw Object.assign(err(e.code, String(e.message || e.code), e.field), e.visitorText ? { visitorText: String(e.visitorText) } : null);
    throw s === 429 ? err("rate_limited", "Too many requests; try again shortly.")
      : s >= 500 ? err("service_unavailable", "The messenger is unavailable right now.")
      : err("http_" + s, "The messenger service answered HTTP " + s + ".");
  })).catch((e) => {
    if (e && typeof e.code === "string") throw e;
    throw e && e.name === "AbortError" ? SUPERSEDED : err("network_error", "No readable answer from " + new URL(BASE).origin +
      ": the network failed, or this page's origin (" + location.origin + ") is not allowed. An admin adds it in Signet under " +
      "Settings \u2192 Install \u2192 Allowed origins; refused origins show in Settings \u2192 Token debugger.");
  });
}

/* A random id for an outgoing message: its clientMessageId and Idempotency-Key. */
function newId() {
  var b = crypto.getRandomValues(new Uint8Array(16));
  return Array.prototype.map.call(b, (x) => (x + 256).toString(16).slice(1)).join("");
}

/* A creating write, sent again after no readable answer or a 503: its idempotency key makes a
 * retry of a write that was stored return that write, never a second one. */
function retrying(fn, waits) {
  waits = waits || [1000, 3000];
  return fn().catch((e) => {
    if (!waits.length || (e.code !== "network_error" && e.code !== "service_unavailable")) throw e;
    return new Promise((r) => setTimeout(r, waits[0])).then(() => retrying(fn, waits.slice(1)));
  });
}

function revoke(token) {
  return api("POST", BASE + "/logout", {}, token).catch((e) => {
    // Already gone is as good as revoked.
    if (e.code !== "session_invalid") throw e;
  });
}
