/*
 * Relay Desk web chat: the widget a site embeds with one tag.
 *
 *   <script src="https://<desk>/widget.js" data-desk="https://<desk>" async></script>
 *
 * data-desk is optional: by default the desk is where this script came from (its
 * origin and folder). No dependencies, no external resources, no inline handlers, no
 * eval: it runs under a strict Content-Security-Policy on the host page (its styles are
 * a constructed stylesheet adopted by a Shadow DOM, which CSP does not count as inline).
 * Everything a person or the desk wrote is set with textContent, never parsed as HTML.
 *
 * The session token and the conversation cursor are kept in localStorage, so a reload
 * (or the next page of the site) shows the whole conversation again and goes on.
 * Replies come by long polling GET /webchat/sessions/{id}/messages?after=&wait=20.
 * Files go straight to the desk's S3 bucket through a pre-signed URL: a host page with its own
 * CSP lists the bucket's origin in connect-src (and the bucket's CORS rules list the site).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__relayDeskWidget) {
    return;
  }
  window.__relayDeskWidget = true;

  var WAIT_SECONDS = 20;
  var MAX_TEXT = 4000;
  var desk = deskUrl(script);
  var storageKey = "relaydesk.webchat:" + desk;
  var state = loadState();
  var shown = {};           // message id -> its element (the widget's own messages are shown before the desk has them)
  var answered = {};        // message id -> true once its buttons were pressed or passed by (never shown again)
  var polling = false;
  var pollAbort = null;
  var unread = 0;

  function deskUrl(tag) {
    var given = tag.getAttribute("data-desk");
    var base = given ? new URL(given, document.baseURI) : new URL(".", tag.src);
    var path = base.pathname.replace(/\/+$/, "");
    return base.origin + path;
  }

  // --- storage -------------------------------------------------------------------------------
  function loadState() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(storageKey) || "null");
      if (saved && saved.token && saved.session_id && Date.parse(saved.expires_at) > Date.now()) {
        return saved;
      }
    } catch (ignored) { /* storage disabled or corrupt: start afresh */ }
    return {};
  }

  function saveState() {
    try {
      window.localStorage.setItem(storageKey, JSON.stringify(state));
    } catch (ignored) { /* private mode: the chat still works until the page is left */ }
  }

  function forgetSession() {
    state = {};
    try { window.localStorage.removeItem(storageKey); } catch (ignored) { /* nothing stored */ }
  }

  // --- the desk's API ------------------------------------------------------------------------
  // API Gateway's throttle (ApiRateLimit) answers 429 with no Retry-After before the desk sees the request, so it
  // is sent again (every send carries its message_id: nothing is stored twice) after about 1 s, then 2 s. The
  // desk's own 429s name their wait in Retry-After (exposed to this origin) and are not retried.
  var THROTTLE_WAITS_MS = [1000, 2000];

  function api(method, path, body, options, attempt) {
    attempt = attempt || 0;
    var headers = {};
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    if (state.token && !(options && options.anonymous)) {
      headers.Authorization = "Bearer " + state.token;
    }
    return fetch(desk + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      signal: options && options.signal
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (ignored) { data = null; }
        var throttled = response.status === 429 && !response.headers.has("Retry-After");
        if (throttled && attempt < THROTTLE_WAITS_MS.length) {
          return new Promise(function (resolve) {
            window.setTimeout(resolve, THROTTLE_WAITS_MS[attempt] * (0.75 + Math.random() / 2));
          }).then(function () {
            return api(method, path, body, options, attempt + 1);
          });
        }
        if (!response.ok) {
          var reason = throttled ? "the desk is busy, please try again in a moment" :
              data && (data.reason || data.message || data.Message);
          var error = new Error(reason || ("HTTP " + response.status));
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function randomId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) {
      hex += ("0" + bytes[i].toString(16)).slice(-2);
    }
    return "w-" + hex;
  }

  // --- the interface -------------------------------------------------------------------------
  var CSS = [
    ":host { all: initial; }",
    ".rd { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; font: 14px/1.4 system-ui, -apple-system,",
    "  'Segoe UI', Roboto, sans-serif; color: #1f2328; }",
    ".launcher { border: 0; border-radius: 28px; padding: 14px 20px; background: #0b5cad; color: #fff; font: inherit;",
    "  font-weight: 600; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); }",
    ".launcher:focus-visible, button:focus-visible, textarea:focus-visible, input:focus-visible {",
    "  outline: 3px solid #f0b400; outline-offset: 2px; }",
    ".badge { display: inline-block; min-width: 18px; margin-left: 8px; padding: 0 5px; border-radius: 9px;",
    "  background: #d1242f; color: #fff; font-size: 12px; text-align: center; }",
    ".panel { display: flex; flex-direction: column; width: 340px; max-width: calc(100vw - 40px); height: 480px;",
    "  max-height: calc(100vh - 40px); background: #fff; border-radius: 12px; overflow: hidden;",
    "  box-shadow: 0 8px 30px rgba(0,0,0,.3); }",
    "header { display: flex; align-items: flex-start; gap: 8px; padding: 12px 14px; background: #0b5cad; color: #fff; }",
    "header .titles { flex: 1; }",
    "header h2 { margin: 0; font-size: 16px; }",
    "header p { margin: 2px 0 0; font-size: 12px; opacity: .9; }",
    ".close { border: 0; background: transparent; color: #fff; font-size: 20px; line-height: 1; cursor: pointer; }",
    ".log { flex: 1; overflow-y: auto; padding: 12px; background: #f6f8fa; }",
    ".msg { max-width: 80%; margin: 0 0 10px; padding: 8px 10px; border-radius: 10px; white-space: pre-wrap;",
    "  overflow-wrap: anywhere; background: #fff; border: 1px solid #d0d7de; }",
    ".msg.visitor { margin-left: auto; background: #dbeafe; border-color: #bfdbfe; }",
    ".msg.desk { background: #fff8c5; border-color: #eed888; }",
    ".msg .who { display: block; font-size: 11px; color: #57606a; margin-bottom: 2px; }",
    ".msg .files { display: block; font-size: 12px; color: #57606a; margin-top: 4px; }",
    ".msg.pending { opacity: .6; }",
    ".msg a { color: #0b5cad; }",
    ".choices { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; white-space: normal; }",
    ".choice { border: 1px solid #0b5cad; border-radius: 14px; padding: 4px 12px; background: #fff; color: #0b5cad;",
    "  font: inherit; cursor: pointer; }",
    ".msg.failed { border-color: #d1242f; }",
    ".notice { font-size: 12px; color: #57606a; text-align: center; margin: 0 0 10px; }",
    "form { display: flex; flex-direction: column; gap: 6px; padding: 10px; border-top: 1px solid #d0d7de; }",
    ".who-fields { display: flex; gap: 6px; }",
    "input, textarea { box-sizing: border-box; width: 100%; font: inherit; padding: 6px 8px; border: 1px solid #8c959f;",
    "  border-radius: 6px; }",
    "textarea { resize: none; height: 60px; }",
    ".actions { display: flex; justify-content: space-between; align-items: center; }",
    ".attach { border: 1px solid #8c959f; border-radius: 6px; padding: 6px 10px; background: #fff; color: #1f2328;",
    "  font: inherit; cursor: pointer; }",
    ".send { border: 0; border-radius: 6px; padding: 7px 16px; background: #0b5cad; color: #fff;",
    "  font: inherit; font-weight: 600; cursor: pointer; }",
    ".send:disabled { opacity: .5; cursor: default; }",
    ".error { color: #d1242f; font-size: 12px; min-height: 1em; margin: 0; }",
    "[hidden] { display: none !important; }"
  ].join("\n");

  function el(tag, attributes, text) {
    var node = document.createElement(tag);
    var names = Object.keys(attributes || {});
    for (var i = 0; i < names.length; i++) {
      node.setAttribute(names[i], attributes[names[i]]);
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  var host = el("div", {"data-relay-desk": "webchat"});
  var root = host.attachShadow({mode: "open"});
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el("style", {}, CSS));  // older browsers; a strict style-src then leaves it unstyled
  }

  var frame = el("div", {"class": "rd"});
  var launcher = el("button", {"class": "launcher", type: "button", "data-part": "launcher",
                               "aria-expanded": "false"}, "Chat with us");
  var badge = el("span", {"class": "badge", "data-part": "unread", hidden: ""});
  launcher.appendChild(badge);

  var panel = el("section", {"class": "panel", "data-part": "panel", role: "dialog", "aria-label": "Chat", hidden: ""});
  var header = el("header");
  var titles = el("div", {"class": "titles"});
  titles.appendChild(el("h2", {}, "Chat with us"));
  var statusLine = el("p", {"data-part": "status"}, "");
  titles.appendChild(statusLine);
  var close = el("button", {"class": "close", type: "button", "aria-label": "Close chat", "data-part": "close"}, "\u00d7");
  header.appendChild(titles);
  header.appendChild(close);

  var log = el("div", {"class": "log", "data-part": "log", role: "log", "aria-live": "polite"});
  var form = el("form", {"data-part": "form"});
  var whoFields = el("div", {"class": "who-fields", "data-part": "who"});
  var nameInput = el("input", {type: "text", name: "name", maxlength: "120", placeholder: "Name (optional)",
                               autocomplete: "name", "aria-label": "Your name", "data-part": "name"});
  var emailInput = el("input", {type: "email", name: "email", maxlength: "254", placeholder: "Email (optional)",
                                autocomplete: "email", "aria-label": "Your email", "data-part": "email"});
  whoFields.appendChild(nameInput);
  whoFields.appendChild(emailInput);
  var textInput = el("textarea", {name: "text", maxlength: String(MAX_TEXT), placeholder: "Write a message\u2026",
                                  "aria-label": "Message", "data-part": "input"});
  var errorLine = el("p", {"class": "error", "data-part": "error", role: "alert"});
  var send = el("button", {"class": "send", type: "submit", "data-part": "send"}, "Send");
  var fileInput = el("input", {type: "file", "data-part": "file", "aria-label": "Send a file", hidden: ""});
  var attach = el("button", {"class": "attach", type: "button", "data-part": "attach",
                             "aria-label": "Send a file"}, "Attach a file");
  var actions = el("div", {"class": "actions"});
  actions.appendChild(attach);
  actions.appendChild(send);
  form.appendChild(whoFields);
  form.appendChild(textInput);
  form.appendChild(errorLine);
  form.appendChild(fileInput);
  form.appendChild(actions);

  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(form);
  frame.appendChild(launcher);
  frame.appendChild(panel);
  root.appendChild(frame);

  function mount() {
    document.body.appendChild(host);
  }

  // --- showing messages ----------------------------------------------------------------------
  function show(message) {
    var existing = shown[message.id];
    if (message.from === "visitor" && !existing) {
      clearChoices();  // the visitor wrote after the buttons: they are answered
    }
    var node = existing || el("div", {"data-part": "message"});
    node.className = "msg " + message.from;
    node.setAttribute("data-from", message.from);
    node.setAttribute("data-id", message.id);
    node.textContent = "";
    var label = message.from === "visitor" ? "You" : (message.author_name || (message.from === "desk" ? "Support" : "Agent"));
    var at = message.at ? new Date(message.at) : null;
    node.appendChild(el("span", {"class": "who"}, label + (at && !isNaN(at) ? " \u00b7 " + at.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}) : "")));
    node.appendChild(linked(message.text || "", message.from !== "visitor"));
    var files = message.attachments || [];
    if (files.length) {
      node.appendChild(el("span", {"class": "files", "data-part": "files"}, "Attached: " + files.map(function (f) { return f.filename; }).join(", ")));
    }
    var choices = message.choices || [];
    if (choices.length && !answered[message.id]) {  // the bot's "did this solve it?": a button per answer
      var group = el("div", {"class": "choices", "data-part": "choices", role: "group"});
      choices.forEach(function (choice) {
        var button = el("button", {"class": "choice", type: "button", "data-part": "choice",
                                   "data-value": choice.value}, choice.label);
        button.addEventListener("click", function () {
          answered[message.id] = true;
          sendMessage(choice.label, null, choice.value);
        });
        group.appendChild(button);
      });
      node.appendChild(group);
    }
    if (!existing) {
      shown[message.id] = node;
      log.appendChild(node);
      if (message.from !== "visitor" && panel.hidden) {
        unread += 1;
        badge.textContent = String(unread);
        badge.hidden = false;
      }
    }
    scrollToEnd();
    return node;
  }

  // The desk's links (an article the bot or an agent points to) open in a new tab; everything else stays text.
  var LINK = /https?:\/\/[^\s<>"]+[^\s<>".,;:!?)]/g;

  function linked(text, withLinks) {
    var span = el("span", {"class": "text", "data-part": "text"});
    var at = 0;
    var found;
    LINK.lastIndex = 0;
    while (withLinks && (found = LINK.exec(text)) !== null) {
      span.appendChild(document.createTextNode(text.slice(at, found.index)));
      span.appendChild(el("a", {href: found[0], target: "_blank", rel: "noopener noreferrer", "data-part": "link"},
                          found[0]));
      at = found.index + found[0].length;
    }
    span.appendChild(document.createTextNode(text.slice(at)));
    return span;
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
    window.requestAnimationFrame(function () { log.scrollTop = log.scrollHeight; });  // after layout settles
  }

  function notice(text) {
    log.appendChild(el("p", {"class": "notice"}, text));
    scrollToEnd();
  }

  function showStatus(status) {
    if (!status) {
      return;
    }
    if (status.message) {  // the whole line in the visitor's language (Accept-Language), worded by the desk
      statusLine.textContent = status.message;
    } else if (status.humans_available) {
      statusLine.textContent = "We're here. We usually reply " + status.expected_reply + ".";
    } else if (status.next_human_at) {
      statusLine.textContent = "We're away right now \u2014 back " + status.expected_reply +
        ". Leave a message and we'll answer here.";
    } else {
      statusLine.textContent = "Leave a message; we'll answer here " + status.expected_reply + ".";
    }
  }

  // --- the conversation ----------------------------------------------------------------------
  function startPolling(fromStart) {
    if (polling || !state.token) {
      return;
    }
    polling = true;
    var failures = 0;
    var after = fromStart ? "" : (state.cursor || "");

    function again(delay) {
      window.setTimeout(next, delay);
    }

    function next() {
      if (!state.token) {
        polling = false;
        return;
      }
      pollAbort = typeof AbortController === "function" ? new AbortController() : null;
      var wait = after ? WAIT_SECONDS : 0;  // the first read (the whole conversation) answers at once
      var query = "?wait=" + wait + (after ? "&after=" + encodeURIComponent(after) : "");
      api("GET", "/webchat/sessions/" + encodeURIComponent(state.session_id) + "/messages" + query, undefined,
          {signal: pollAbort && pollAbort.signal})
        .then(function (page) {
          failures = 0;
          (page.messages || []).forEach(show);
          after = page.cursor;
          state.cursor = page.cursor;
          saveState();
          again(0);
        })
        .catch(function (error) {
          if (error.status === 401 || error.status === 403) {
            polling = false;
            forgetSession();
            notice("This chat session has ended. Write again to start a new one.");
            whoFields.hidden = false;
            return;
          }
          failures += 1;
          again(Math.min(30000, 1000 * Math.pow(2, failures)));  // offline or the desk is busy: back off
        });
    }

    next();
  }

  function openSession() {
    if (state.token) {
      return Promise.resolve();
    }
    var visitor = {};
    if (nameInput.value.trim()) {
      visitor.name = nameInput.value.trim().slice(0, 120);
    }
    if (emailInput.value.trim()) {
      visitor.email = emailInput.value.trim();
    }
    return api("POST", "/webchat/sessions", visitor, {anonymous: true}).then(function (session) {
      state = {token: session.session_token, session_id: session.session_id, expires_at: session.expires_at,
               name: visitor.name || "", cursor: ""};
      saveState();
      whoFields.hidden = true;
      startPolling(true);
    });
  }

  function submit(event) {
    event.preventDefault();
    var text = textInput.value;
    if (!text.trim()) {
      return;
    }
    sendMessage(text, null);
  }

  // A file goes in two steps (the bytes never pass through the desk's API): a pre-signed URL for it,
  // a PUT of the bytes to that URL, then the message naming the upload.
  function upload(file) {
    var grantPath = "/webchat/sessions/" + encodeURIComponent(state.session_id) + "/uploads";
    var type = file.type || "application/octet-stream";
    return api("POST", grantPath, {filename: file.name, content_type: type, size: file.size}).then(function (grant) {
      return fetch(grant.url, {method: "PUT", headers: grant.headers, body: file, mode: "cors",
                               credentials: "omit"}).then(function (response) {
        if (!response.ok) {
          throw new Error("the file could not be uploaded (HTTP " + response.status + ")");
        }
        return grant.upload_id;
      });
    });
  }

  function sendFile() {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (file) {
      sendMessage(textInput.value, file);
    }
  }

  // Buttons are answered once: by a press, or by anything the visitor writes after them.
  function clearChoices() {
    Object.keys(shown).forEach(function (id) {
      var group = shown[id].querySelector("[data-part=choices]");
      if (group) {
        answered[id] = true;
        group.remove();
      }
    });
  }

  function sendMessage(text, file, choice) {
    clearChoices();
    errorLine.textContent = "";
    send.disabled = true;
    attach.disabled = true;
    var id = randomId();
    openSession().then(function () {
      var node = show({id: id, from: "visitor", author_name: state.name || "", text: text,
                       at: new Date().toISOString(),
                       attachments: file ? [{filename: file.name, content_type: file.type, size: file.size}] : []});
      node.classList.add("pending");
      textInput.value = "";
      var uploaded = file ? upload(file).then(function (uploadId) { return [uploadId]; }) : Promise.resolve([]);
      return uploaded.then(function (uploadIds) {
        var body = {text: text, message_id: id};
        if (choice) {
          body.choice = choice;
        }
        if (uploadIds.length) {
          body.attachments = uploadIds;
        }
        return api("POST", "/webhooks/webchat", body);
      }).then(function () {
        node.classList.remove("pending");
      }, function (error) {
        node.classList.remove("pending");
        node.classList.add("failed");
        throw error;
      });
    }).catch(function (error) {
      errorLine.textContent = "Not sent: " + error.message;
      if (!textInput.value) {
        textInput.value = text;
      }
    }).then(function () {
      send.disabled = false;
      attach.disabled = false;
      textInput.focus();
    });
  }

  function openPanel() {
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    unread = 0;
    badge.hidden = true;
    scrollToEnd();
    textInput.focus();
    api("GET", "/webchat/status", undefined, {anonymous: true}).then(showStatus, function () {
      statusLine.textContent = "";
    });
  }

  function closePanel() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", openPanel);
  close.addEventListener("click", closePanel);
  form.addEventListener("submit", submit);
  attach.addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", sendFile);
  textInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (typeof form.requestSubmit === "function") {
        form.requestSubmit();
      } else {
        send.click();
      }
    }
  });

  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }
  if (state.token) {
    whoFields.hidden = true;
    startPolling(true);  // a reload: the whole conversation again, then what comes next
  }
}());
