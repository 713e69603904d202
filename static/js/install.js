// Settings → Install: refresh the "Last identification" panel every few seconds (text only).
(function () {
  "use strict";
  var panel = document.getElementById("live");
  if (!panel || !window.fetch) return;
  var userLine = document.getElementById("live-user");
  var refusalLine = document.getElementById("live-refusal");

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
      userLine.appendChild(badge(u.verified ? "ok" : "warn", u.verified ? "Verified" : "Not verified"));
      userLine.appendChild(document.createTextNode(" " + (u.name || u.email || u.id) + " (id " + u.id + ") via " + u.how + ", " + u.at));
    } else {
      userLine.textContent = "No user identified yet. Load a page of your app with the snippet.";
    }
    refusalLine.textContent = "";
    if (data.refusal) {
      var r = data.refusal;
      refusalLine.appendChild(badge("bad", "Refused"));
      refusalLine.appendChild(document.createTextNode(" " + r.code + " at " + r.at + (r.origin ? " from " + r.origin : "") + ": " + r.explanation));
    } else {
      refusalLine.textContent = "No refused token.";
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
