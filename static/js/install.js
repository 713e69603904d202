// Settings → Install: refresh the "Last identification" panel every few seconds (text only).
(function () {
  "use strict";
  var panel = document.getElementById("live");
  if (!panel || !window.fetch) return;
  var userLine = document.getElementById("live-user");
  var refusalLine = document.getElementById("live-refusal");
  var originLine = document.getElementById("live-origin");

  // "Allow this origin": the same POST (with the page's CSRF token) the server renders.
  function allowForm(origin) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = panel.getAttribute("data-allow");
    form.className = "inline";
    [["csrf_token", panel.getAttribute("data-csrf")], ["origin", origin], ["back", "install"]].forEach(function (f) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = f[0];
      input.value = f[1];
      form.appendChild(input);
    });
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "button small";
    button.textContent = "Allow this origin";
    form.appendChild(button);
    return form;
  }

  function badge(cls, text) {
    var span = document.createElement("span");
    span.className = "badge " + cls;
    span.textContent = text;
    return span;
  }

  function render(data) {
    userLine.textContent = "";
    if (data.user) {
      var u = data.user;
      userLine.appendChild(badge(u.badge.tone, u.badge.label));
      userLine.appendChild(document.createTextNode(" " + u.displayName + " (id " + u.id + ") via " + u.how + ", " + (u.when || u.at)));
    } else {
      userLine.textContent = "No user identified yet. Load a page of your app with the snippet.";
    }
    refusalLine.textContent = "";
    if (data.refusal) {
      var r = data.refusal;
      refusalLine.appendChild(badge("bad", "Refused"));
      refusalLine.appendChild(document.createTextNode(" " + r.code + " at " + (r.when || r.at) + (r.origin ? " from " + r.origin : "") + ": " + r.explanation));
    } else {
      refusalLine.textContent = "No refused token.";
    }
    var o = data.origin;
    // Leave the line alone while its button has the focus or nothing changed.
    if (originLine && originLine.getAttribute("data-shown") !== JSON.stringify(o) && !originLine.contains(document.activeElement)) {
      originLine.setAttribute("data-shown", JSON.stringify(o));
      originLine.textContent = "";
      if (o) {
        originLine.appendChild(badge("bad", "Origin refused"));
        originLine.appendChild(document.createTextNode(" " + o.origin + " at " + (o.when || o.at) +
          ": pages there cannot reach the messenger (the widget logs network_error). "));
        if (o.allow) originLine.appendChild(allowForm(o.origin));
      } else {
        originLine.textContent = "No refused origin.";
      }
    }
  }

  function poll() {
    fetch(panel.getAttribute("data-src"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) render(data); })
      .catch(function () {})
      .then(function () { setTimeout(poll, 4000); });
  }
  setTimeout(poll, 4000);
})();
