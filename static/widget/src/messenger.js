/* messenger.js: <signet-messenger>, the floating launcher and conversation panel of the
 * page-wide identity (window.signet). With the `inline` attribute it renders the panel in
 * place, always open, with no launcher (the hosted /m/ page uses that). */

var MESSENGER_CSS = `
.dock{position:fixed;right:20px;bottom:20px;z-index:var(--signet-z-index,2147483000)}
.launcher{display:grid;place-items:center;width:56px;height:56px;padding:0;border:0;border-radius:50%;background:var(--a);color:var(--at);box-shadow:0 4px 14px rgba(0,0,0,.28)}
.launcher svg{width:26px;height:26px}
.badge{position:absolute;pointer-events:none;top:-4px;right:-4px;min-width:22px;padding:0 6px;border:2px solid var(--bg);border-radius:11px;background:#c62020;color:#fff;font-size:12px;font-weight:700;line-height:18px;text-align:center}
:host(:not([inline])) .panel{position:fixed;right:20px;bottom:88px;z-index:var(--signet-z-index,2147483000);width:380px;max-width:calc(100vw - 24px);height:min(620px,calc(100vh - 108px));border:0;box-shadow:0 12px 48px rgba(0,0,0,.28)}
@media (prefers-reduced-motion:no-preference){:host(:not([inline])) .panel{animation:signet-in .16s ease-out}}
@keyframes signet-in{from{opacity:0;transform:translateY(12px)}}
@media (max-width:480px){:host(:not([inline])) .panel{inset:0;width:auto;max-width:none;height:auto;border-radius:0}}
`;

// The badge sits beside the button, not in it, so the button's name stays "Open messages";
// the button points at it with aria-describedby while there is something unread.
var LAUNCHER = '<div class="dock" id="dock"><button type="button" class="launcher" id="launch" data-a="open" aria-expanded="false" aria-controls="panel">' +
  '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z"/></svg></button>' +
  '<span class="badge" id="badge" role="img" aria-hidden="true" hidden></span></div>';

class SignetMessenger extends ChatPanel {
  constructor() {
    super(MESSENGER_CSS, LAUNCHER);
    this.session = S;
    this.opened = false;
    this.$("launch").addEventListener("click", () => (this.opened ? this.hide(false) : this.show()));
    this.$("close").addEventListener("click", () => this.hide(true));
    this.r.addEventListener("keydown", (e) => this.key(e));
  }

  connectedCallback() {
    this.sync();
    super.connectedCallback();
  }

  /* Identity changed or ended; a logout also closes the panel. */
  restart() {
    if (this.opened && !this.session.token) this.hide(this.r.activeElement != null);
    super.restart();
  }

  isLive() {
    return this.opened || this.hasAttribute("inline");
  }

  /* Opening the panel with no identity (after logout) starts an anonymous visitor; a
   * failed identification is shown instead, never papered over. */
  ensure() {
    var s = this.session;
    return s.ready().then(() => {
      if (s.token) return;
      if (s.failure) throw s.failure;
      return s.identify({ id: null });
    });
  }

  show() {
    // With data-consent="required", opening the messenger is consent to chat.
    if (!consented) signet.consent(true);
    this.opened = true;
    this.sync();
    this.markRead();
    this.focusIn();
    this.delay = FAST;
    this.schedule(true);
    // A failure is reported by the session and shown in the panel.
    if (!this.session.token && !this.session.failure) this.ensure().catch(noop);
    else this.error(this.session.token ? null : this.session.failure);
  }

  hide(refocus) {
    this.opened = false;
    this.sync();
    if (refocus) this.$("launch").focus();
    this.schedule();
  }

  sync() {
    var inline = this.hasAttribute("inline"), p = this.$("panel");
    p.hidden = !this.isLive();
    p.setAttribute("role", inline ? "region" : "dialog");
    if (inline) p.removeAttribute("aria-modal");
    else p.setAttribute("aria-modal", "false");
    this.$("dock").hidden = this.$("close").hidden = inline;
    this.$("launch").setAttribute("aria-expanded", String(this.opened));
    this.toggleAttribute("open", this.opened);
  }

  /* Escape closes; Tab and Shift+Tab cycle through the open panel's controls. */
  key(e) {
    if (!this.opened || this.hasAttribute("inline")) return;
    if (e.key === "Escape") {
      e.preventDefault();
      this.hide(true);
      return;
    }
    if (e.key !== "Tab") return;
    var p = this.$("panel"), active = this.r.activeElement;
    var all = Array.prototype.filter.call(p.querySelectorAll("button,textarea,[tabindex='0']"),
      (x) => !x.disabled && x.getClientRects().length);
    var first = all[0], last = all[all.length - 1];
    if (first && (!p.contains(active) || active === (e.shiftKey ? first : last))) {
      e.preventDefault();
      (e.shiftKey ? last : first).focus();
    }
  }

  onUnread(n) {
    var b = this.$("badge"), l = this.$("launch");
    b.hidden = !n;
    b.textContent = n > 99 ? "99+" : String(n);
    b.setAttribute("aria-label", t("unreadAll", { n: n }));
    if (n) l.setAttribute("aria-describedby", "badge");
    else l.removeAttribute("aria-describedby");
  }
}

// Lets a second copy of this script find the running instance.
SignetMessenger.signet = signet;
define("signet-messenger", SignetMessenger);
