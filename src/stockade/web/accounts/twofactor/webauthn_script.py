"""The browser half of security keys: a small script (served as /static/webauthn.js; the CSP
allows scripts from this site only) that drives ``navigator.credentials`` for any
``<form data-webauthn="register|authenticate" data-options-url="...">``.

The form posts normally once the key has answered (the answer in its ``credential`` field), so
the server answers with an ordinary page. Kept here, not in a .js file, so that it ships inside
the package with nothing more to configure.
"""

from __future__ import annotations

__all__ = ["SCRIPT", "SCRIPT_PATH"]

SCRIPT_PATH = "/static/webauthn.js"

SCRIPT = r"""// Security keys for stockade: options from the server, the answer back in a form.
(function () {
  "use strict";

  function toBuffer(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeOptions(options) {
    options.challenge = toBuffer(options.challenge);
    if (options.user) { options.user.id = toBuffer(options.user.id); }
    (options.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    (options.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return options;
  }

  function encodeCredential(credential) {
    var r = credential.response;
    var out = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: { clientDataJSON: toBase64url(r.clientDataJSON) },
      clientExtensionResults: credential.getClientExtensionResults ?
        credential.getClientExtensionResults() : {}
    };
    if (credential.authenticatorAttachment) {
      out.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle) { out.response.userHandle = toBase64url(r.userHandle); }
    }
    return out;
  }

  function say(form, text) {
    var status = form.querySelector("[data-webauthn-status]");
    if (status) { status.textContent = text; }
  }

  async function run(form) {
    var csrf = form.querySelector("input[name=csrf_token]").value;
    var reply = await fetch(form.getAttribute("data-options-url"), {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json" },
      credentials: "same-origin"
    });
    if (!reply.ok) { say(form, await reply.text()); return; }
    var options = decodeOptions(await reply.json());
    say(form, "Touch your security key.");
    var credential = form.getAttribute("data-webauthn") === "register" ?
      await navigator.credentials.create({ publicKey: options }) :
      await navigator.credentials.get({ publicKey: options });
    form.querySelector("input[name=credential]").value =
      JSON.stringify(encodeCredential(credential));
    say(form, "Checking the answer of your security key...");
    form.submit();
  }

  function start() {
    var forms = document.querySelectorAll("form[data-webauthn]");
    Array.prototype.forEach.call(forms, function (form) {
      if (!window.PublicKeyCredential || !navigator.credentials) {
        say(form, "This browser cannot use security keys.");
        var button = form.querySelector("button");
        if (button) { button.disabled = true; }
        return;
      }
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        run(form).catch(function (error) {
          say(form, "The security key did not answer (" + error.name + "). Try again.");
        });
      });
      form.setAttribute("data-webauthn-ready", "1");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
"""
