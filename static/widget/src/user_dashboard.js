/* user_dashboard.js: <signet-dashboard>, a read-only table of the conversations the page-wide
 * identity may see (GET dashboard: its own, or with a token ctx {role: "admin", orgId}
 * every conversation of that organization's members). Reloads on identified/logout. */

var DASHBOARD_CSS = `
.panel{height:auto;min-height:160px}
table{width:100%;border-collapse:collapse;font-size:13px}
th,td{padding:8px 10px;border-bottom:1px solid var(--bd);text-align:left;vertical-align:top}
th{color:var(--mu);font-weight:600}
td small{display:block;color:var(--mu);overflow-wrap:anywhere}
`;

var DASHBOARD = '<section class="panel" aria-labelledby="t"><header><h2 id="t" data-t="convs"></h2>' +
  '<button type="button" class="ib" id="reload" data-a="refresh"><svg viewBox="0 0 24 24" aria-hidden="true">' +
  '<path d="M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7"/></svg></button></header>' +
  '<p class="err" id="err" role="alert" hidden></p><div class="body"><p class="note" id="note"></p>' +
  '<table id="table" hidden><thead><tr><th scope="col" data-t="untitled"></th><th scope="col" data-t="user"></th>' +
  '<th scope="col" data-t="status"></th><th scope="col" data-t="updated"></th></tr></thead><tbody id="rows"></tbody></table></div></section>';

class SignetDashboard extends HTMLElement {
  static get observedAttributes() {
    return ["color"];
  }

  constructor() {
    super();
    this.r = this.attachShadow({ mode: "open" });
    this.r.innerHTML = "<style>" + STYLE + DASHBOARD_CSS + "</style><style id=theme></style>" + DASHBOARD;
    this.n = 0;
    tr(this.r);
    this.relabel = () => tr(this.r) || this.load();
    this.reload = () => this.load();
    this.$("reload").addEventListener("click", this.reload);
  }

  $(id) {
    return this.r.getElementById(id);
  }

  attributeChangedCallback(name, old, value) {
    theme(this.r, value);
  }

  connectedCallback() {
    S.bus.addEventListener("identified", this.reload);
    S.bus.addEventListener("logout", this.reload);
    BUS.addEventListener("locale", this.relabel);
    this.load();
  }

  disconnectedCallback() {
    S.bus.removeEventListener("identified", this.reload);
    S.bus.removeEventListener("logout", this.reload);
    BUS.removeEventListener("locale", this.relabel);
  }

  load() {
    // Only the latest load may render (identity changes can overlap).
    var n = ++this.n;
    if (!this.$("rows").children.length) this.show(null, t("loading"));
    S.chain.then(() => (S.token ? S.request("GET", "dashboard") : null)).then((data) => {
      if (n !== this.n) return;
      if (!data) return this.show(S.failure, S.failure ? "" : t("signedOut"));
      var convs = list(data.conversations);
      this.$("rows").textContent = "";
      convs.forEach((c) => this.row(c));
      this.show(null, convs.length ? "" : t("empty"));
    }).catch((e) => {
      if (n !== this.n || e === SUPERSEDED) return;
      S.report(e);
      this.show(e, "");
    });
  }

  row(c) {
    var u = c.user && typeof c.user === "object" ? c.user : {}, m = c.lastMessage, tr = el("tr"), td = el("td");
    var who = str(u.name) || str(u.email) || (u.id != null ? str(u.id) : t("visitor"));
    [[title(c), m ? str(m.body).slice(0, 120) : ""], [who, u.name && u.email ? str(u.email) : ""], [t(c.status === "closed" ? "closed" : "open_"), ""]]
      .forEach((x) => {
        var cell = el("td", null, x[0]);
        if (x[1]) cell.append(el("small", null, x[1]));
        tr.append(cell);
      });
    td.append(when(c.updatedAt));
    tr.append(td);
    this.$("rows").append(tr);
  }

  show(e, note) {
    var p = this.$("err");
    p.hidden = !e;
    p.textContent = e ? t(e.code === "network_error" ? "offline" : "failed") : "";
    this.$("note").textContent = note;
    this.$("table").hidden = !!(e || note);
    if (e || note) this.$("rows").textContent = "";
  }
}

define("signet-dashboard", SignetDashboard);
