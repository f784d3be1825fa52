// Passkeys (WebAuthn): add one on the account page, sign in with one on the login page, or
// use one as the second step. Each section is a container marked by a data attribute and
// stays hidden until this script finds WebAuthn support, so the pages work without it.
//
//   data-passkey-register | data-passkey-login | data-passkey-mfa   the section
//     data-options-url, data-verify-url   the JSON endpoints (POST)
//     input[name=csrfmiddlewaretoken]     its value is sent as X-CSRFToken (the cookie is
//                                         HttpOnly, so the page renders the token)
//     data-next                           where to go after signing in (checked server-side)
//   data-passkey-action   the button      data-passkey-error   where a failure is shown
//   data-passkey-name     the name field  data-passkey-unsupported   hidden when supported
(function () {
  "use strict";

  // --- base64url <-> ArrayBuffer ---

  function base64urlToBuffer(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function bufferToBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // --- options from the server (JSON) -> what navigator.credentials wants ---

  function descriptors(list) {
    return (list || []).map(function (descriptor) {
      return Object.assign({}, descriptor, { id: base64urlToBuffer(descriptor.id) });
    });
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: base64urlToBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: base64urlToBuffer(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: base64urlToBuffer(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    });
  }

  // --- the credential the browser returns -> JSON for the server ---

  function extensionResults(credential) {
    try {
      return credential.getClientExtensionResults() || {};
    } catch (error) {
      return {};
    }
  }

  function registrationJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: bufferToBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: extensionResults(credential),
      response: {
        clientDataJSON: bufferToBase64url(response.clientDataJSON),
        attestationObject: bufferToBase64url(response.attestationObject),
        transports: typeof response.getTransports === "function" ? response.getTransports() : [],
      },
    };
  }

  function assertionJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: bufferToBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: extensionResults(credential),
      response: {
        clientDataJSON: bufferToBase64url(response.clientDataJSON),
        authenticatorData: bufferToBase64url(response.authenticatorData),
        signature: bufferToBase64url(response.signature),
        userHandle: response.userHandle ? bufferToBase64url(response.userHandle) : undefined,
      },
    };
  }

  // --- talking to the server ---

  function csrfToken(section) {
    var input = section.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function postJSON(section, url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(section),
      },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (!response.ok) {
            throw new Error(data.error || "Something went wrong (" + response.status + ").");
          }
          return data;
        });
    });
  }

  function showError(section, error) {
    var message = error && error.message ? error.message : String(error);
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      message = "The passkey request was cancelled or timed out.";
    } else if (error && error.name === "InvalidStateError") {
      message = "This passkey is already registered.";
    }
    var target = section.querySelector("[data-passkey-error]");
    if (target) {
      target.textContent = message;
      target.hidden = false;
    }
  }

  function clearError(section) {
    var target = section.querySelector("[data-passkey-error]");
    if (target) {
      target.textContent = "";
      target.hidden = true;
    }
  }

  function ceremony(section, run) {
    var button = section.querySelector("[data-passkey-action]");
    if (!button) {
      return;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      clearError(section);
      run()
        .then(function (result) {
          if (result && result.redirect) {
            window.location.assign(result.redirect);
          } else {
            button.disabled = false;
          }
        })
        .catch(function (error) {
          button.disabled = false;
          showError(section, error);
        });
    });
  }

  function register(section) {
    var nameField = section.querySelector("[data-passkey-name]");
    return postJSON(section, section.dataset.optionsUrl)
      .then(function (options) {
        return navigator.credentials.create({ publicKey: creationOptions(options) });
      })
      .then(function (credential) {
        return postJSON(section, section.dataset.verifyUrl, {
          credential: registrationJSON(credential),
          name: nameField ? nameField.value : "",
        });
      });
  }

  function signIn(section) {
    return postJSON(section, section.dataset.optionsUrl)
      .then(function (options) {
        return navigator.credentials.get({ publicKey: requestOptions(options) });
      })
      .then(function (credential) {
        return postJSON(section, section.dataset.verifyUrl, {
          credential: assertionJSON(credential),
          next: section.dataset.next || "",
        });
      });
  }

  function supported() {
    return (
      typeof window.PublicKeyCredential === "function" &&
      !!navigator.credentials &&
      typeof navigator.credentials.create === "function" &&
      typeof fetch === "function"
    );
  }

  function init() {
    if (!supported()) {
      return;
    }
    document.querySelectorAll("[data-passkey-unsupported]").forEach(function (node) {
      node.hidden = true;
    });
    document.querySelectorAll("[data-passkey-register]").forEach(function (section) {
      section.hidden = false;
      ceremony(section, function () {
        return register(section);
      });
    });
    document.querySelectorAll("[data-passkey-login], [data-passkey-mfa]").forEach(function (section) {
      section.hidden = false;
      ceremony(section, function () {
        return signIn(section);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
