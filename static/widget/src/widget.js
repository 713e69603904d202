/* widget.js: <signet-widget token="JWT" user-id="..." connection-id="...">, an inline
 * messenger identified by its own token (POST set-user {"jwt"}), with a session of its
 * own: it never changes window.signet's user or the visitor cookie. When `user-id` is
 * given and differs from the token's user, the new session is revoked and the element
 * stays unidentified. Events out (bubbling, composed): identified, message, error. */

class SignetWidget extends ChatPanel {
  static get observedAttributes() {
    return ["color", "token", "user-id"];
  }

  constructor() {
    super();
    var s = (this.session = new Session(false));
    this.$("close").remove();
    this.$("panel").setAttribute("role", "region");
    ["identified", "message", "error"].forEach((type) => {
      s.bus.addEventListener(type, (e) => {
        this.dispatchEvent(new CustomEvent(type, {
          bubbles: true,
          composed: true,
          detail: type === "identified" ? e.detail.user : e.detail
        }));
      });
    });
    // A page may set the property before signet.js defines the element: that own property
    // shadows the setter below, so take it over now (the custom elements "lazy property" rule).
    if (Object.prototype.hasOwnProperty.call(this, "tokenProvider")) {
      var fn = this.tokenProvider;
      delete this.tokenProvider;
      this.tokenProvider = fn;
    }
  }

  attributeChangedCallback(name, old, value) {
    super.attributeChangedCallback(name, old, value);
    if (name !== "color") this.later();
  }

  connectedCallback() {
    super.connectedCallback();
    this.later();
  }

  /* A function returning a token (or a Promise of one), asked whenever the element needs one:
   * to identify, shortly before its session ends, and after a stale refusal. Wins over `token`. */
  get tokenProvider() {
    return this.provider || null;
  }

  set tokenProvider(fn) {
    this.provider = typeof fn === "function" ? fn : null;
    this.later();
  }

  /* Attributes arrive one by one (parser, frameworks): identify once they have settled,
   * and only when token or user-id really changed (a jti token is good for one use). */
  later() {
    if (this.pending) return;
    this.pending = true;
    Promise.resolve().then(() => {
      this.pending = false;
      if (this.isConnected) this.start();
    });
  }

  start() {
    var s = this.session, fn = this.provider, token = fn || this.getAttribute("token"), uid = this.getAttribute("user-id");
    if (token === this.started && uid === this.uid) return;
    this.started = token;
    this.uid = uid;
    if (s.token) s.logout().catch(noop);
    if (!token) return;
    var check = (user) => uid != null && String(user.id) !== uid &&
      err("user_id_mismatch", 'The token identifies another user than user-id="' + uid + '".');
    // A failure is reported by the session, shown in the panel and dispatched as `error`.
    s.identify({ jwt: token }, check).catch(noop);
  }

  create(body) {
    var p = { body: body }, cid = this.getAttribute("connection-id");
    if (cid) p.connectionId = cid;
    return p;
  }
}

define("signet-widget", SignetWidget);
