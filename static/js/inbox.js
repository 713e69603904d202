// Inbox live updates without a reload (the CSP forbids inline scripts, so this file does it):
// the open thread polls its messages.json and appends new messages as text only, and the
// conversation list refreshes its unread markers. Polling pauses while the tab is hidden and
// stops when the answer is not JSON (e.g. the member was logged out).
(function () {
  "use strict";
  var THREAD_EVERY_MS = 3000;
  var LIST_EVERY_MS = 6000;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, redirect: "error" })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("application/json") !== 0) throw new Error("stop");
        return response.json();
      });
  }

  function every(ms, task) {
    var stopped = false;
    function tick() {
      if (stopped) return;
      if (document.hidden) { setTimeout(tick, ms); return; }
      task().then(function () { setTimeout(tick, ms); }, function () { stopped = true; });
    }
    setTimeout(tick, ms);
  }

  function formatTime(iso) {
    // Same shape as the server's "YYYY-MM-DD HH:MM UTC".
    return iso.slice(0, 10) + " " + iso.slice(11, 16) + " UTC";
  }

  function messageItem(message, userName) {
    var item = document.createElement("li");
    item.id = "m-" + message.id;
    item.className = "message from-" + (message.author === "staff" ? "staff" : "user");
    var meta = document.createElement("p");
    meta.className = "meta";
    var who = document.createElement("strong");
    who.textContent = message.author === "staff" ? (message.staffName || "Support") : userName;
    var time = document.createElement("time");
    time.setAttribute("datetime", message.createdAt);
    time.textContent = formatTime(message.createdAt);
    meta.appendChild(who);
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(time);
    if (message.sender) {
      // How the sender was identified when this was written (verified, unsigned, anonymous, staff).
      var sender = document.createElement("span");
      var v = message.senderVerified;
      sender.className = "badge sender " + (v === true ? "ok" : v === false ? "warn" : "neutral");
      sender.textContent = message.sender;
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(sender);
    }
    var body = document.createElement("div");
    body.className = "body";
    body.textContent = message.body;
    item.appendChild(meta);
    item.appendChild(body);
    return item;
  }

  function watchThread(list) {
    var url = list.getAttribute("data-poll-url");
    var userName = list.getAttribute("data-user-name") || "User";
    var status = document.getElementById("thread-status");
    every(THREAD_EVERY_MS, function () {
      var after = list.getAttribute("data-after");
      return getJSON(url + (after ? "?after=" + encodeURIComponent(after) : "")).then(function (data) {
        (data.messages || []).forEach(function (message) {
          if (document.getElementById("m-" + message.id)) return;
          list.appendChild(messageItem(message, userName));
          list.setAttribute("data-after", message.id);
        });
        if (status && data.status) {
          status.textContent = data.status === "closed" ? "Closed" : "Open";
        }
      });
    });
  }

  function watchList(list) {
    var url = list.getAttribute("data-updates-url");
    var rows = {};
    var ids = [];
    Array.prototype.forEach.call(list.querySelectorAll("li[data-conversation]"), function (row) {
      rows[row.getAttribute("data-conversation")] = row;
      ids.push(row.getAttribute("data-conversation"));
    });
    if (!ids.length) return;
    every(LIST_EVERY_MS, function () {
      return getJSON(url + "?ids=" + ids.map(encodeURIComponent).join(",")).then(function (data) {
        (data.conversations || []).forEach(function (conversation) {
          var row = rows[conversation.id];
          if (!row) return;
          var unread = conversation.unread && !row.classList.contains("current");
          row.classList.toggle("unread", unread);
          var marker = row.querySelector(".unread-marker");
          if (marker) marker.hidden = !unread;
        });
      });
    });
  }

  function start() {
    var thread = document.getElementById("thread-messages");
    if (thread) watchThread(thread);
    var list = document.getElementById("conversation-list");
    if (list) watchList(list);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
