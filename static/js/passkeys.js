// Passkeys (WebAuthn) without inline scripts (the CSP forbids them): registering one on
// /account/security (#passkey-add) and using one as the second step of a login (#passkey-use).
// The server makes the options and checks the answers; this file only converts between JSON
// (base64url) and the ArrayBuffers navigator.credentials wants.
(function () {
  "use strict";

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var raw = atob(base64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error((data.error && data.error.message) || "The passkey was refused.");
        return data;
      });
    });
  }

  function withIds(list) {
    return (list || []).map(function (item) { return Object.assign({}, item, {id: toBuffer(item.id)}); });
  }

  function answer(credential) {
    var r = credential.response, out = {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: {clientDataJSON: toText(r.clientDataJSON)}
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) out.response.userHandle = toText(r.userHandle);
    }
    return out;
  }

  function showError(id, error) {
    var box = document.getElementById(id);
    if (!box) return;
    box.textContent = error.message || String(error);
    box.hidden = false;
  }

  function register(button) {
    var name = document.getElementById("passkey-name"), csrf = button.getAttribute("data-csrf");
    post(button.getAttribute("data-options-url"), csrf).then(function (options) {
      options.challenge = toBuffer(options.challenge);
      options.user.id = toBuffer(options.user.id);
      options.excludeCredentials = withIds(options.excludeCredentials);
      return navigator.credentials.create({publicKey: options});
    }).then(function (credential) {
      return post(button.getAttribute("data-verify-url"), csrf, {name: name ? name.value : "", credential: answer(credential)});
    }).then(function () {
      window.location.reload();
    }).catch(function (error) { showError("passkey-error", error); });
  }

  function use(button) {
    var csrf = button.getAttribute("data-csrf");
    post(button.getAttribute("data-options-url"), csrf).then(function (options) {
      options.challenge = toBuffer(options.challenge);
      options.allowCredentials = withIds(options.allowCredentials);
      return navigator.credentials.get({publicKey: options});
    }).then(function (credential) {
      return post(button.getAttribute("data-verify-url"), csrf, answer(credential));
    }).then(function (data) {
      window.location.assign(data.next);
    }).catch(function (error) { showError("passkey-error", error); });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("#passkey-add,#passkey-use") : null;
    if (!target) return;
    event.preventDefault();
    if (!window.PublicKeyCredential) {
      showError("passkey-error", new Error("This browser does not support passkeys."));
      return;
    }
    if (target.id === "passkey-add") register(target); else use(target);
  });
})();
