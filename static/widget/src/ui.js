/* ui.js: what <signet-messenger> and <signet-widget> share: styles, DOM helpers and
 * ChatPanel, the base element with the conversation list, the thread, the composer
 * and the polling for staff replies. Data is only ever written with textContent. */

var FAST = 2000, MAX = 30000, SLOW = 45000;

var STYLE = `
:host{all:initial;display:block;
--a:var(--signet-accent,var(--_c,#1d4ed8));--at:var(--signet-accent-text,var(--_ct,#fff));--r:var(--signet-radius,14px);
--bg:#fff;--fg:#1a1d21;--mu:#535c68;--bd:#d5dae1;--ib:#868f9c;--sf:#eef1f5;--er:#a5281b;--eb:#fdecea;--fo:#1d4ed8}
@media (prefers-color-scheme:dark){:host{--bg:#17191d;--fg:#eceef1;--mu:#a7afbb;--bd:#3a404a;--ib:#6b7482;--sf:#262a31;--er:#ffb4ab;--eb:#3b1d1a;--fo:#8ab4f8}}
:host([hidden]),[hidden]{display:none!important}
*{box-sizing:border-box}
.panel,.dock{font:14px/1.45 var(--signet-font,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif)}
button,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer}
:focus-visible{outline:2px solid var(--fo);outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.panel{display:flex;flex-direction:column;height:var(--signet-height,520px);background:var(--bg);color:var(--fg);border:1px solid var(--bd);border-radius:var(--r);overflow:hidden}
header{display:flex;align-items:center;gap:6px;min-height:56px;padding:10px 12px 10px 16px;background:var(--a);color:var(--at)}
header :focus-visible{outline-color:var(--at);outline-offset:-4px}
h2{flex:1;margin:0;font-size:16px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.ib{flex:none;display:grid;place-items:center;width:34px;height:34px;padding:0;border:0;border-radius:8px;background:none}
.ib:hover{background:rgba(127,127,127,.25)}
svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}
.err{margin:0;padding:8px 16px;background:var(--eb);color:var(--er);font-size:13px}
.body{flex:1;min-height:0;overflow:auto;margin:0;padding:12px}
ul,ol{list-style:none;margin:0;padding:0}
.conv{display:grid;grid-template-columns:1fr auto;gap:2px 8px;align-items:center;width:100%;padding:10px 12px;border:0;border-radius:10px;background:none;text-align:left}
.conv:hover{background:var(--sf)}
.subj{font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.prev{grid-column:1;color:var(--mu);font-size:13px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.conv time,.tag{color:var(--mu);font-size:12px}
.dot{grid-column:2;justify-self:end;min-width:20px;padding:0 6px;border-radius:10px;background:var(--a);color:var(--at);font-size:12px;font-weight:700;line-height:20px;text-align:center}
.foot{padding:10px 12px;border-top:1px solid var(--bd)}
.primary{display:block;width:100%;padding:10px;border:0;border-radius:10px;background:var(--a);color:var(--at);font-weight:600}
.note{margin:28px 8px;color:var(--mu);text-align:center}
.note:empty{display:none}
.msgs{display:flex;flex-direction:column;gap:10px}
.msg{max-width:85%;align-self:flex-start}
.msg.user{align-self:flex-end;text-align:right}
.msg p{margin:0;padding:8px 12px;border-radius:16px 16px 16px 4px;background:var(--sf);white-space:pre-wrap;overflow-wrap:anywhere;text-align:left}
.msg.user p{border-radius:16px 16px 4px 16px;background:var(--a);color:var(--at)}
.meta{display:block;margin:3px 4px 0;color:var(--mu);font-size:12px}
form{display:flex;gap:8px;align-items:flex-end;padding:10px 12px;border-top:1px solid var(--bd)}
textarea{flex:1;min-height:38px;max-height:120px;padding:8px 12px;border:1px solid var(--ib);border-radius:10px;background:var(--bg);resize:none}
textarea::placeholder{color:var(--mu);opacity:1}
.send{flex:none;display:grid;place-items:center;width:38px;height:38px;padding:0;border:0;border-radius:50%;background:var(--a);color:var(--at)}
.send:disabled{opacity:.6;cursor:default}
`;

var ICON_BACK = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M15 18l-6-6 6-6"/></svg>';
var ICON_CLOSE = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>';
var ICON_SEND = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 12l16-8-6 16-2-7z"/></svg>';

/* Static markup only; every piece of data goes in later through textContent. */
// Texts are keys (data-t text, data-a aria-label, data-p placeholder) that tr() fills in.
var PANEL = '<section class="panel" id="panel" aria-labelledby="t">' +
  '<header><button type="button" class="ib" id="back" data-a="back" hidden>' + ICON_BACK + '</button>' +
  '<h2 id="t"></h2>' +
  '<button type="button" class="ib" id="close" data-a="close">' + ICON_CLOSE + '</button></header>' +
  '<p class="err" id="err" role="alert" hidden></p>' +
  '<div class="body" id="list"><ul id="convs" data-a="convs"></ul><p class="note" id="note"></p></div>' +
  '<div class="foot" id="foot"><button type="button" class="primary" id="new" data-t="newConv"></button></div>' +
  '<ol class="body msgs" id="msgs" tabindex="0" data-a="thread" hidden></ol>' +
  '<form id="form" hidden><label class="sr" for="msg" data-t="label"></label>' +
  '<textarea id="msg" rows="1" data-p="placeholder"></textarea>' +
  '<button class="send" id="send" data-a="send">' + ICON_SEND + '</button></form>' +
  '<div class="sr" id="live" aria-live="polite"></div></section>';

function el(tag, cls, text) {
  var e = doc.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function str(v) {
  return v == null ? "" : String(v);
}

function list(v) {
  return Array.isArray(v) ? v.filter((x) => x && x.id != null) : [];
}

function enc(id) {
  return encodeURIComponent(id);
}

function define(name, cls) {
  if (!customElements.get(name)) customElements.define(name, cls);
}

/* <time datetime> with the local time (and the date when it isn't today). */
function when(iso) {
  var t = el("time"), d = new Date(iso);
  if (!iso || isNaN(d)) return t;
  t.dateTime = str(iso);
  t.title = d.toLocaleString(LOCALE);
  t.textContent = (d.toDateString() === new Date().toDateString() ? "" :
    d.toLocaleDateString(LOCALE, { month: "short", day: "numeric" }) + ", ") +
    d.toLocaleTimeString(LOCALE, { hour: "numeric", minute: "2-digit" });
  return t;
}

function title(c) {
  var s = str(c.subject);
  return (s.length > 80 ? s.slice(0, 79) + "\u2026" : s) || t("untitled");
}

/* Host-page theming: the `color` attribute, validated, becomes the default accent (the
 * page's --signet-accent still wins) with a text colour that keeps 4.5:1 contrast. */
function theme(root, v) {
  var ok = v && !/[;{}<\\]/.test(v) && CSS.supports("color", v);
  root.getElementById("theme").textContent = ok ? ":host{--_c:" + v + ";--_ct:" + ink(v) + "}" : "";
}

/* Near-black or white, whichever contrasts more with colour v. */
function ink(v) {
  var c = doc.createElement("canvas").getContext("2d");
  if (!c) return "#fff";
  c.fillStyle = v;
  // The canvas normalises any colour to "#rrggbb" or "rgba(r, g, b, a)".
  var s = c.fillStyle, rgb = s[0] === "#" ? [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16)) : (s.match(/[\d.]+/g) || []).map(Number);
  var L = [0.2126, 0.7152, 0.0722].reduce((sum, k, i) => {
    var x = rgb[i] / 255;
    return sum + k * (x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
  }, 0);
  return (L + 0.05) / 0.0556 > 1.05 / (L + 0.05) ? "#111" : "#fff";
}

class ChatPanel extends HTMLElement {
  static get observedAttributes() {
    return ["color"];
  }

  constructor(css, before) {
    super();
    this.r = this.attachShadow({ mode: "open" });
    this.r.innerHTML = "<style>" + STYLE + (css || "") + "</style><style id=theme></style>" + (before || "") + PANEL;
    this.timer = 0;
    this.delay = FAST;
    this.epoch = 0;
    this.lock = Promise.resolve();
    this.reset();
    tr(this.r);
    this.$("t").textContent = t("title");
    var ta = this.$("msg");
    this.$("new").addEventListener("click", () => {
      this.go({ id: null });
      ta.focus();
    });
    this.$("back").addEventListener("click", () => {
      this.go(null);
      this.focusIn();
    });
    this.$("form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    ta.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    ta.addEventListener("input", () => {
      ta.style.height = "auto";
      ta.style.height = Math.min(ta.scrollHeight + 2, 120) + "px";
    });
    this.subs = [
      ["identified", (e) => (e.detail.changed ? this.restart() : this.error(null))],
      ["logout", () => this.restart()],
      ["switch", () => {
        // Another person signs in on this device: their predecessor's draft goes too.
        ta.value = "";
        this.pending = this.cur = null;
        this.reset();
        this.go(null);
        this.badge();
      }],
      ["error", (e) => e.detail === this.session.failure && this.error(e.detail)],
      ["notice", () => this.error(this.session.token ? null : this.session.failure)]
    ];
    // The visitor's language arrived: every static text, the title, the list and the notes again.
    this.relabel = () => {
      var c = this.cur;
      tr(this.r);
      this.$("t").textContent = !c ? t("title") : c.id == null ? t("newConv") : title(c);
      if (!c) this.draw();
      this.error(this.session.token ? null : this.session.failure);
      this.badge();
    };
    this.onVisible = () => {
      this.delay = FAST;
      this.schedule(true);
    };
  }

  $(id) {
    return this.r.getElementById(id);
  }

  attributeChangedCallback(name, old, value) {
    if (name === "color") theme(this.r, value);
  }

  connectedCallback() {
    this.subs.forEach((x) => this.session.bus.addEventListener(x[0], x[1]));
    doc.addEventListener("visibilitychange", this.onVisible);
    BUS.addEventListener("locale", this.relabel);
    this.restart();
  }

  disconnectedCallback() {
    this.subs.forEach((x) => this.session.bus.removeEventListener(x[0], x[1]));
    doc.removeEventListener("visibilitychange", this.onVisible);
    BUS.removeEventListener("locale", this.relabel);
    clearTimeout(this.timer);
  }

  /* Per-identity state: nothing of a previous user survives an identity change. */
  reset() {
    this.epoch++;
    this.cur = null;
    this.convs = [];
    // Conversation id -> id of its last message already processed / unread staff messages.
    this.known = {};
    this.unread = {};
    this.primed = false;
  }

  restart() {
    // A new conversation being typed survives (the first identification may land meanwhile).
    var draft = this.cur && this.cur.id == null ? this.cur : null;
    this.reset();
    this.go(draft);
    this.error(this.session.token ? null : this.session.failure);
    this.badge();
    this.delay = FAST;
    this.schedule(true);
  }

  /* Whether the panel is on screen: then it polls fast and marks replies as seen. */
  isLive() {
    return true;
  }

  /* Resolves once there is a session to talk with. */
  ensure() {
    var s = this.session;
    return s.ready().then(() => {
      if (!s.token) throw s.failure || err("session_invalid", "The messenger is not signed in.");
    });
  }

  /* Payload for the first message of a new conversation. */
  create(body) {
    return { body: body };
  }

  onUnread() {}

  exclusive(fn) {
    var p = this.lock.then(fn);
    this.lock = p.catch(noop);
    return p;
  }

  fail(e) {
    if (e === SUPERSEDED) return;
    this.session.report(e);
    this.error(e);
  }

  /* A failure, or else the session's plain notice (its user was refused; it chats as a
   * visitor). Developer detail stays in the console and the error event. */
  error(e) {
    var p = this.$("err"), s = this.session, c = e && e.code;
    // The workspace's own words for a visitor it does not chat with are a note, not an error.
    var text = s.reconnecting ? t("reconnecting") : c === "anonymous_not_allowed" ? "" : c ?
      t(c === "network_error" ? "offline" : c === "rate_limited" ? "busy" : "failed") : s.token && s.notice && t(s.notice);
    p.hidden = !text;
    // Unchanged text is not rewritten, so the alert is not announced again on every poll.
    if (p.textContent !== (text || "")) p.textContent = text || "";
    this.note();
  }

  note() {
    var s = this.session;
    this.$("foot").hidden = !!this.cur || (!s.token && !!s.failure);
    var f = !s.token && s.failure;
    this.$("note").textContent = this.convs.length ? "" : this.primed ? t("empty") : s.token ? t("loading") :
      f && f.code === "anonymous_not_allowed" ? f.visitorText || t("signIn") : f ? "" : t("connecting");
  }

  focusIn() {
    (this.cur ? this.$("msg") : this.$("convs").querySelector("button") || this.$("new")).focus();
  }

  /* Show the list (c = null), a conversation, or a new one (c = {id: null}). */
  go(c) {
    this.cur = c;
    this.lastId = null;
    this.ids = {};
    this.$("list").hidden = !!c;
    this.$("msgs").hidden = this.$("form").hidden = this.$("back").hidden = !c;
    this.$("msgs").textContent = "";
    this.$("t").textContent = !c ? t("title") : c.id == null ? t("newConv") : title(c);
    this.note();
    if (!c) this.draw();
    else if (c.id != null) this.exclusive(() => this.pull()).catch((e) => this.fail(e));
  }

  draw() {
    var ul = this.$("convs"), focused = this.r.activeElement, again = null;
    // A redraw keeps the focus on the conversation that had it.
    var keep = focused && ul.contains(focused) ? focused.value : null;
    ul.textContent = "";
    this.convs.forEach((c) => {
      var b = el("button", "conv"), m = c.lastMessage, n = this.unread[c.id], li = el("li");
      b.type = "button";
      b.value = c.id;
      if (keep === b.value) again = b;
      b.append(el("span", "subj", title(c)), when(c.updatedAt || (m && m.createdAt)),
        el("span", "prev", m ? (m.author === "staff" ? str(m.staffName) || t("support") : t("you")) + ": " + str(m.body) : ""));
      if (c.status === "closed") b.append(el("span", "tag", t("closed")));
      if (n) {
        var d = el("span", "dot", String(n));
        d.setAttribute("role", "img");
        d.setAttribute("aria-label", t("unread", { n: n }));
        b.append(d);
      }
      b.addEventListener("click", () => {
        this.go(c);
        this.$("msg").focus();
      });
      li.append(b);
      ul.append(li);
    });
    if (again) again.focus();
    this.note();
  }

  /* Append a message unless shown already; returns whether it was new. */
  take(m) {
    if (!m || m.id == null || this.ids[m.id]) return false;
    var ol = this.$("msgs"), staff = m.author === "staff", li = el("li", "msg " + (staff ? "staff" : "user"));
    var meta = el("span", "meta", (staff ? str(m.staffName) || t("support") : t("you")) + " \u00b7 ");
    meta.append(when(m.createdAt));
    li.append(el("p", null, str(m.body)), meta);
    ol.append(li);
    ol.scrollTop = ol.scrollHeight;
    this.ids[m.id] = 1;
    this.lastId = String(m.id);
    this.known[this.cur.id] = this.lastId;
    return true;
  }

  /* Fetch the open thread's new messages (all of them on first load). */
  async pull() {
    var c = this.cur, s = this.session, first = !this.lastId;
    var r = await s.request("GET", "conversations/" + enc(c.id) + "/messages" + (first ? "" : "?after=" + enc(this.lastId)));
    if (c !== this.cur) return false;
    var fresh = 0, seen = this.isLive() && doc.visibilityState !== "hidden";
    list(r && r.messages).forEach((m) => {
      if (this.take(m) && !first && m.author === "staff") {
        fresh++;
        s.message(m, c.id);
        if (seen) this.$("live").textContent = t("replied", { name: str(m.staffName) || t("support"), text: str(m.body).slice(0, 200) });
        else this.unread[c.id] = (this.unread[c.id] || 0) + 1;
      }
    });
    if (seen) this.markRead();
    return fresh > 0;
  }

  markRead() {
    var c = this.cur;
    if (c && this.lastId) {
      markSeen(c.id, this.lastId);
      this.unread[c.id] = 0;
      this.badge();
    }
  }

  /* Poll the list; fetch messages only for conversations whose last message changed. */
  async refresh() {
    var ep = this.epoch, fresh = false;
    var r = await this.session.request("GET", "conversations");
    if (ep !== this.epoch) throw SUPERSEDED;
    var convs = list(r && r.conversations);
    for (var i = 0; i < convs.length; i++) {
      var c = convs[i], m = c.lastMessage, mid = m && m.id != null ? String(m.id) : null;
      if (!mid || this.known[c.id] === mid) continue;
      if (this.cur && String(this.cur.id) === String(c.id)) fresh = (await this.pull()) || fresh;
      else fresh = (await this.count(c, mid)) || fresh;
      if (ep !== this.epoch) throw SUPERSEDED;
      this.known[c.id] = mid;
    }
    this.convs = convs;
    this.primed = true;
    if (!this.cur) this.draw();
    this.badge();
    return fresh;
  }

  /* Unread staff messages of a conversation not on screen; emits `message` for those
   * that arrived since the previous poll (not for what was there at page load). */
  async count(c, mid) {
    var id = c.id, seenId = seenMap()[id], prev = this.known[id], r;
    if (c.lastMessage.author !== "staff" || seenId === mid) {
      this.unread[id] = 0;
      return false;
    }
    try {
      r = await this.session.request("GET", "conversations/" + enc(id) + "/messages" + (seenId ? "?after=" + enc(seenId) : ""));
    } catch (e) {
      if (e === SUPERSEDED) throw e;
      this.unread[id] = 1;
      return false;
    }
    var msgs = list(r && r.messages), n = 0, fresh = false;
    var start = !this.primed ? msgs.length : prev ? msgs.findIndex((x) => String(x.id) === prev) + 1 : 0;
    msgs.forEach((x, i) => {
      if (x.author !== "staff") return;
      n++;
      if (i >= start) {
        fresh = true;
        this.session.message(x, id);
      }
    });
    this.unread[id] = n;
    return fresh;
  }

  badge() {
    var total = 0;
    for (var id in this.unread) total += this.unread[id];
    this.onUnread(total);
  }

  /* Poll fast while on screen (2 s, x1.5 up to 30 s when nothing new), slowly otherwise;
   * never while the tab is hidden or there is no session, nor, off screen, for a visitor
   * with no conversation (no reply can come; opening the panel polls again). */
  schedule(now) {
    clearTimeout(this.timer);
    var live = this.isLive();
    if (!this.session.token || doc.visibilityState === "hidden" || !this.isConnected) return;
    if (!live && this.primed && !this.convs.length) return;
    this.timer = setTimeout(() => this.tick(), now ? 0 : live ? this.delay : SLOW);
  }

  tick() {
    this.exclusive(() => this.refresh()).then((fresh) => {
      this.delay = fresh ? FAST : Math.min(this.delay * 1.5, MAX);
      if (this.pollErr) this.error(null);
      this.pollErr = null;
    }, (e) => {
      if (e === SUPERSEDED) return;
      this.delay = e.code === "rate_limited" ? 60000 : MAX;
      // Reported once per run of identical failures.
      if (this.pollErr !== e.code) this.fail(e);
      this.pollErr = e.code;
    }).then(() => this.schedule());
  }

  send() {
    var ta = this.$("msg"), btn = this.$("send"), body = ta.value.trim();
    if (!body || btn.disabled) return;
    btn.disabled = true;
    this.exclusive(async () => {
      await this.ensure();
      var c = this.cur, s = this.session, p = this.pending;
      if (!c) return false;
      // One id per outgoing message, kept until it is sent: a retry, ours or a second press of
      // Send with the same text, names it again and never makes a second message.
      if (!p || p.body !== body || p.c !== c) p = this.pending = { body: body, c: c, id: newId() };
      var h = { "Idempotency-Key": p.id };
      if (c.id == null) {
        var conv = await retrying(() => s.request("POST", "conversations", this.create(body), h));
        this.pending = null;
        if (c !== this.cur || !conv || conv.id == null) return true;
        this.convs.unshift(conv);
        this.cur = conv;
        this.$("t").textContent = title(conv);
        if (!this.take(conv.lastMessage)) await this.pull();
      } else {
        var m = await retrying(() => s.request("POST", "conversations/" + enc(c.id) + "/messages",
          { body: body, clientMessageId: p.id }, h));
        this.pending = null;
        if (c === this.cur) this.take(m);
      }
      this.markRead();
      return true;
    }).then((sent) => {
      if (!sent) return;
      ta.value = "";
      ta.style.height = "";
      this.error(null);
      this.delay = FAST;
      this.schedule();
    }, (e) => this.fail(e)).then(() => {
      btn.disabled = false;
    });
  }
}
