/* session.js: identities. The visitor cookie, the seen-messages map, the Session class
 * (the page-wide runtime's or a <signet-widget>'s), window.signet and its start. */

/* document.cookie throws in sandboxed frames: then visitors are simply not remembered. */
function readCookie() {
  try {
    var parts = doc.cookie.split("; ");
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].indexOf(COOKIE + "=") === 0) return decodeURIComponent(parts[i].slice(COOKIE.length + 1)) || null;
    }
  } catch (_) {}
  return null;
}

function writeCookie(value, maxAge) {
  try {
    doc.cookie = COOKIE + "=" + encodeURIComponent(value) + "; path=/; max-age=" + maxAge +
      "; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  } catch (_) {}
}

/* Last message id the user has seen, per conversation: drives the unread badge across
 * page loads. Storage may be unavailable (privacy modes, sandboxes): then it's per page. */
function seenMap() {
  try {
    return JSON.parse(localStorage.getItem(SEEN)) || {};
  } catch (_) {
    return {};
  }
}

function markSeen(cid, mid) {
  try {
    var m = seenMap();
    m[cid] = mid;
    localStorage.setItem(SEEN, JSON.stringify(m));
  } catch (_) {}
}

function sameUser(a, aVid, b, bVid) {
  if (!a || !b) return false;
  if (a.anonymous || b.anonymous) return !!a.anonymous === !!b.anonymous && aVid === bVid;
  return String(a.id) === String(b.id);
}

/* One identity: the page-wide runtime's (owns the visitor cookie) or a <signet-widget>'s.
 * Identifications and logouts run one after another; other requests wait for them.
 * Internal events on .bus: identified {user, changed}, logout, error, message, ready. */
class Session {
  constructor(cookies) {
    this.cookies = cookies;
    this.token = this.user = this.vid = this.arg = this.failure = this.renew = this.notice = null;
    this.gen = 0;
    this.ctl = new AbortController();
    this.bus = new EventTarget();
    this.chain = Promise.resolve();
    this.emitted = new Set();
  }

  emit(type, detail) {
    this.bus.dispatchEvent(new CustomEvent(type, { detail: detail }));
  }

  serial(fn) {
    var p = this.chain.then(fn);
    this.chain = p.catch(noop);
    return p;
  }

  /* Every failure: one console.warn and one error event, however many callers see it. */
  report(e) {
    if (!e || typeof e !== "object" || e === SUPERSEDED || reported.has(e)) return;
    if (typeof e.code !== "string") e = err("internal_error", String(e.message || e));
    reported.add(e);
    warn(e.code, e.message);
    this.emit("error", e);
  }

  /* POST set-user. `check(user)` may veto the answer with an error: the new session is
   * then revoked and nothing changes here. A failure also leaves the current identity,
   * except that the page-wide runtime never strands the end user: when the page's user is
   * refused and there is no identity but an anonymous one (or none), it keeps or starts an
   * anonymous visitor and sets a plain `notice`; the caller still gets the real error. */
  identify(arg, check) {
    return this.serial(() => this.post(arg, check).catch((e) => {
      this.report(e);
      var u = this.user;
      if (!this.cookies || !REFUSED.test(e.code) || (arg && arg.id === null) || (this.token && !(u && u.anonymous))) {
        this.failure = e;
        throw e;
      }
      this.notice = "We couldn't confirm your account. You can still write to us.";
      return (this.token ? Promise.resolve() : this.post({ id: null }, null, true)).then(() => {
        this.emit("notice");
        throw e;
      }, (e2) => {
        this.failure = e2;
        this.report(e2);
        throw e;
      });
    }));
  }

  post(arg, check, fallback) {
    var vid = this.cookies && readCookie();
    return api("POST", BASE + "/set-user", arg, null, null, vid ? { "X-Signet-Visitor": vid } : null)
      .then((r) => {
        if (!r || !r.user || typeof r.session !== "string") {
          throw err("invalid_response", "Unexpected answer from the messenger service.");
        }
        var bad = check && check(r.user);
        if (bad) {
          revoke(r.session).catch(noop);
          throw bad;
        }
        var changed = !sameUser(this.user, this.vid, r.user, r.visitorId);
        if (changed) this.drop().catch(noop);
        this.token = r.session;
        this.user = r.user;
        this.vid = r.visitorId;
        this.arg = arg;
        this.failure = null;
        if (!fallback) this.notice = null;
        if (this.cookies && r.visitorId) writeCookie(r.visitorId, 31536000);
        this.emit("identified", { user: r.user, changed: changed });
        return r.user;
      });
  }

  /* Take a session handed over by the page (the hosted /m/ page renders one). */
  adopt(token, user) {
    this.drop().catch(noop);
    this.token = token;
    this.user = user;
    this.emit("identified", { user: user, changed: true });
  }

  /* Forget the identity locally (aborting its requests) and revoke its session. */
  drop() {
    var t = this.token;
    this.token = this.user = this.vid = null;
    this.gen++;
    this.ctl.abort();
    this.ctl = new AbortController();
    return t ? revoke(t) : Promise.resolve();
  }

  logout() {
    return this.serial(() => {
      var p = this.drop();
      this.arg = this.failure = this.notice = null;
      if (this.cookies) {
        writeCookie("", 0);
        try {
          localStorage.removeItem(SEEN);
        } catch (_) {}
      }
      this.emit("logout");
      return p.then(noop, (e) => {
        this.report(e);
        throw e;
      });
    });
  }

  /* A request with the bearer session, once no identification is pending. */
  request(method, path, body, headers) {
    return this.chain.then(() => this.send(method, path, body, true, headers));
  }

  send(method, path, body, retry, headers) {
    var token = this.token, gen = this.gen;
    if (!token) return Promise.reject(this.failure || err("session_invalid", "The messenger is not signed in."));
    return api(method, BASE + "/" + path, body, token, this.ctl.signal, headers).then((r) => {
      if (gen !== this.gen) throw SUPERSEDED;
      return r;
    }, (e) => {
      if (gen !== this.gen) throw SUPERSEDED;
      if (!retry || e.code !== "session_invalid") throw e;
      // The session expired or was revoked: identify again (once for all requests that
      // noticed), then retry once.
      if (this.token === token && !this.renew) {
        var arg = this.arg || (this.user && this.user.anonymous ? { id: null } : null);
        if (!arg) {
          this.token = null;
          throw e;
        }
        var clear = () => (this.renew = null);
        this.renew = this.identify(arg).catch((e2) => {
          if (this.token === token) this.token = null;
          throw e2;
        });
        this.renew.then(clear, clear);
      }
      return Promise.resolve(this.renew).then(() => {
        if (gen !== this.gen) throw SUPERSEDED;
        return this.send(method, path, body, false, headers);
      });
    });
  }

  /* A new staff reply, announced once however many elements notice it. */
  message(m, cid) {
    var key = cid + "/" + m.id;
    if (this.emitted.has(key)) return;
    this.emitted.add(key);
    this.emit("message", Object.assign({ conversationId: cid }, m));
  }
}

/* The page-wide runtime behind window.signet. */
var S = new Session(true);
var subscribers = [];
var isReady = false;

var signet = {
  setUser: function (user) {
    if (!user || typeof user !== "object" || Array.isArray(user)) {
      var e = err("invalid_json", "setUser() takes an object, e.g. {id: null}.");
      S.report(e);
      return Promise.reject(e);
    }
    return S.identify(user);
  },
  logout: function () {
    return S.logout();
  },
  on: function (type, fn) {
    if (typeof fn !== "function") return signet;
    var wrap = (e) => {
      try {
        fn(type === "identified" ? e.detail.user : e.detail);
      } catch (x) {
        warn("listener_error", x && x.message);
      }
    };
    subscribers.push([type, fn, wrap]);
    S.bus.addEventListener(type, wrap);
    if (type === "ready" && isReady) setTimeout(wrap, 0, {});
    return signet;
  },
  off: function (type, fn) {
    for (var i = subscribers.length - 1; i >= 0; i--) {
      if (subscribers[i][0] === type && subscribers[i][1] === fn) {
        S.bus.removeEventListener(type, subscribers[i][2]);
        subscribers.splice(i, 1);
      }
    }
    return signet;
  },
  get user() {
    return S.user;
  }
};
Object.defineProperty(signet, "__signet", { value: true });
// A snippet that pushes onto signet._q after load still works.
Object.defineProperty(signet, "_q", { value: { push: (item) => run(signet, item) } });

(function start() {
  var queue = prior && prior._q;
  var code = script.getAttribute("data-external-auth-code");
  var handed = script.getAttribute("data-session");
  var queuedUser = false;
  for (var i = 0; queue && i < queue.length; i++) if (queue[i] && queue[i][0] === "setUser") queuedUser = true;
  window.signet = signet;
  if (handed) {
    var user = null;
    try {
      user = JSON.parse(script.getAttribute("data-user"));
    } catch (_) {}
    S.adopt(handed, user);
  } else if (code) {
    S.identify({ externalAuthCode: code }).catch(noop);
  }
  replay(signet, queue);
  if (!handed && !code && !queuedUser) S.identify({ id: null }).catch(noop);
  S.chain.then(() => {
    isReady = true;
    S.emit("ready");
  });
  if (script.getAttribute("data-launcher") !== "false") {
    var insert = () => {
      if (!doc.querySelector("signet-messenger")) doc.body.appendChild(doc.createElement("signet-messenger"));
    };
    // Deferred so the element classes below are defined before the element is created.
    if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", insert);
    else Promise.resolve().then(insert);
  }
})();
