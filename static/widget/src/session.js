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
  if (value && !consented) return;
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
  if (!consented) return;
  try {
    var m = seenMap();
    m[cid] = mid;
    localStorage.setItem(SEEN, JSON.stringify(m));
  } catch (_) {}
}

/* Forget the visitor on this device: the cookie and the seen-messages map. */
function forget() {
  writeCookie("", 0);
  try {
    localStorage.removeItem(SEEN);
  } catch (_) {}
}

function sameUser(a, aVid, b, bVid) {
  if (!a || !b) return false;
  if (a.anonymous || b.anonymous) return !!a.anonymous === !!b.anonymous && aVid === bVid;
  return String(a.id) === String(b.id);
}

/* One identity: the page-wide runtime's (owns the visitor cookie) or a <signet-widget>'s.
 * Identifications and logouts run one after another; other requests wait for them.
 * A token provider (setUser({jwt: fn})) is asked for a token to identify, again shortly
 * before the session ends, and once more after a stale refusal; one call at a time. When it
 * fails the user stays (never an anonymous visitor): `token_refresh_failed`, `reconnecting`,
 * and retries with backoff. Every request waits for consent (GATE).
 * Internal events on .bus: switch (another identity: forget the previous one's traces, before
 * identified), identified {user, changed}, logout, error, notice, message, ready. */
class Session {
  constructor(cookies) {
    this.cookies = cookies;
    this.token = this.user = this.vid = this.arg = this.failure = this.renew = this.notice = null;
    this.gen = 0;
    this.ctl = new AbortController();
    this.bus = new EventTarget();
    this.chain = GATE;
    this.emitted = new Set();
    this.tries = this.timer = 0;
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
    clearTimeout(this.timer);
    this.provider = arg && typeof arg.jwt === "function" ? arg.jwt : null;
    this.reconnecting = false;
    this.tries = 0;
    if (this.provider) {
      this.check = check;
      return this.serial(() => this.refresh(this.provider));
    }
    return this.serial(() => this.post(arg, check).catch((e) => {
      var u = this.user;
      if (!this.cookies || !REFUSED.test(e.code) || (arg && arg.id === null) || (this.token && !(u && u.anonymous))) {
        // Set before the error event, so the elements show it.
        this.failure = e;
        this.report(e);
        throw e;
      }
      this.report(e);
      // A key of the visitor's language (i18n.js), shown by the panel.
      this.notice = "unconfirmed";
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

  /* One identification through the provider `fn` (asked again once after a stale refusal). */
  refresh(fn) {
    var once = () => this.ask(fn).then((jwt) => this.post({ jwt: jwt }, this.check).catch((e) => {
      if (STALE.test(e.code)) this.refused = jwt;
      throw e;
    }));
    return once().catch((e) => (STALE.test(e.code) && fn === this.provider ? once() : Promise.reject(e))).then((u) => {
      this.tries = 0;
      this.reconnecting = false;
      this.plan(this.left);
      return u;
    }, (e) => {
      if (e === SUPERSEDED || fn !== this.provider) throw e;
      var f = err("token_refresh_failed", "The token provider failed, or its token was refused (" + e.code + "): " + e.message);
      f.cause = e.code;
      this.failure = f;
      this.reconnecting = true;
      this.report(f);
      this.emit("notice");
      this.plan(Math.min(60000, 2000 * Math.pow(2, this.tries++)), true);
      throw f;
    });
  }

  /* The provider's next token: one call in flight; the token refused last time is not sent again. */
  ask(fn) {
    if (!this.asking) {
      var p = this.asking = new Promise((r) => r(fn())).then((tok) => {
        if (typeof tok !== "string" || !tok) throw err("token_missing", "The token provider returned no token.");
        if (tok === this.refused) throw err("token_reused", "The token provider returned the token just refused.");
        return tok;
      }, (e) => {
        throw e && typeof e.code === "string" ? e : err("token_provider_failed", String(e && e.message || e));
      });
      var done = () => p === this.asking && (this.asking = null);
      p.then(done, done);
    }
    return this.asking;
  }

  /* Renew in `ms` (by default shortly before the session ends: a fifth of its life, 3 to 60 s). */
  plan(ms, now) {
    clearTimeout(this.timer);
    var fn = this.provider;
    if (!fn || !(ms > 0)) return;
    if (!now) ms = Math.max(1000, ms - Math.min(60000, Math.max(3000, ms / 5)));
    this.timer = setTimeout(() => fn === this.provider && this.serial(() => this.refresh(fn)).catch(noop), ms);
  }

  /* Resolves once there is a session, waiting through a reconnection. */
  ready() {
    return this.chain.then(() => this.token || !this.reconnecting ? null :
      new Promise((r) => this.bus.addEventListener("identified", r, { once: true })).then(() => this.ready()));
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
        if (changed) {
          // Another person: nothing of the previous one may show (a visitor who signs in is the same one).
          if (this.user && !this.user.anonymous) this.wipe();
          this.drop().catch(noop);
        }
        var secs = r.sessionExpiresIn > 0 ? r.sessionExpiresIn : (Date.parse(r.sessionExpiresAt) - Date.now()) / 1000;
        this.left = secs * 1000;
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

  /* Forget what the previous identity left on this device and in the elements. */
  wipe() {
    this.emitted.clear();
    if (this.cookies) {
      try {
        localStorage.removeItem(SEEN);
      } catch (_) {}
    }
    this.emit("switch");
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
    clearTimeout(this.timer);
    this.provider = null;
    this.reconnecting = false;
    return this.serial(() => {
      this.wipe();
      var p = this.drop();
      this.arg = this.failure = this.notice = null;
      if (this.cookies) forget();
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
        var arg = this.provider ? { jwt: this.provider } : this.arg || (this.user && this.user.anonymous ? { id: null } : null);
        if (!arg) {
          this.token = null;
          throw e;
        }
        var clear = () => (this.renew = null);
        this.renew = this.identify(arg, this.provider && this.check).catch((e2) => {
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
  /* data-consent="required": true lets the widget store and connect; false forgets the visitor. */
  consent: function (yes) {
    consented = !!yes;
    if (yes) {
      if (letIn) letIn();
    } else {
      forget();
    }
    return Promise.resolve(consented);
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
// locales/<lang>.js hands its strings over here.
Object.defineProperty(signet, "_l", {
  value: (lang, strings) => {
    if (lang !== LANG || !strings) return;
    L = Object.assign({ $: 1 }, strings);
    BUS.dispatchEvent(new Event("locale"));
  }
});
Object.defineProperty(signet, "locale", { get: () => LANG });
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
  GATE.then(loadLocale);
  if (script.getAttribute("data-launcher") !== "false") {
    var insert = () => {
      if (!doc.querySelector("signet-messenger")) doc.body.appendChild(doc.createElement("signet-messenger"));
    };
    // Deferred so the element classes below are defined before the element is created.
    if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", insert);
    else Promise.resolve().then(insert);
  }
})();
