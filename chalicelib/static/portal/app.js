// The customer portal: search and read the knowledge base, contact the desk through a form, and — after
// signing in with a mailed link — follow one's own requests. Hash routes keep it one page:
//   #  (search)  #article/<id>  #new  #signin  #tickets  #ticket/<id>  and the mailed #signin=<token>.
// Every piece of data enters the page as text (h() and textContent); article Markdown through markdown.js.

import {h, clear, field, when, bytes} from "../console/dom.js";
import {api, ApiError, session, uploadAll} from "./api.js";
import {render as markdown} from "./markdown.js";
import {initialLanguage, LANGUAGES, remember, statusText, texts} from "./texts.js";

let language = initialLanguage();
let t = texts(language);
const main = document.getElementById("main");
const notice = document.getElementById("notice");

function say(text, kind = "ok") { clear(notice, text ? h("p", {class: kind}, text) : null); }

// A tracked article link from a mail or the bot (GET kb/go/<link> → portal?ref=<link>#article/<id>): the link is
// kept for this tab beside the article it opened, and dropped from the address bar, so a copied URL never carries it.
const REF = "relay-desk.portal-ref";
const LINK = /^k1\.[A-Za-z0-9_-]{1,512}$/;
(function keepLink() {
  const link = new URLSearchParams(location.search).get("ref");
  if (link === null) return;
  try {
    const article = decodeURIComponent((location.hash.match(/^#article\/([^/]+)$/) || [])[1] || "");
    if (LINK.test(link) && article) sessionStorage.setItem(REF, JSON.stringify({link, article}));
  } catch { /* a mangled address: the article still shows, nothing is asked */ }
  history.replaceState(null, "", location.pathname + location.hash);
})();

function trackedLink(article) {
  try {
    const kept = JSON.parse(sessionStorage.getItem(REF));
    return kept && kept.article === article && LINK.test(kept.link) ? kept.link : null;
  } catch { return null; }
}

// "Did this answer your question?" under an article opened from a tracked link, in the article's language (the
// customer's: suggestions are searched in it). The open is reported on the reader's first gesture, not on load:
// some mail scanners run a page's scripts when they follow a link, and none of them moves a mouse or scrolls.
function feedback(link, articleLanguage) {
  const w = texts(LANGUAGES.includes(articleLanguage) ? articleLanguage : language);
  const report = (event) => api("POST", `kb/go/${encodeURIComponent(link)}`, {body: {event}});
  const gestures = ["pointermove", "pointerdown", "keydown", "scroll", "touchstart", "wheel"];
  let opened = null;
  const stop = () => gestures.forEach((name) => window.removeEventListener(name, open, true));
  function open() {
    stop();
    if (!opened) opened = report("opened").catch(() => null);  // an answer records the open too
    return opened;
  }
  gestures.forEach((name) => window.addEventListener(name, open, {capture: true, passive: true}));
  window.addEventListener("hashchange", stop, {once: true});
  const yes = h("button", {type: "button", id: "kb-yes"}, w("kbYes"));
  const no = h("button", {type: "button", id: "kb-no", class: "secondary"}, w("kbNo"));
  const box = h("section", {class: "card feedback", id: "kb-feedback", "aria-live": "polite"},
    h("p", {}, h("strong", {}, w("kbQuestion"))), h("div", {class: "row"}, yes, no));
  const answer = (event) => async () => {
    stop();
    yes.disabled = no.disabled = true;
    try {
      const done = await report(event);
      clear(box, h("p", {id: "kb-answer"}, w(event === "not_solved" ? "kbNotSolved" : done.deflected ? "kbSolved" : "kbThanks")));
    } catch (err) {
      yes.disabled = no.disabled = false;
      box.append(h("p", {class: "bad"}, w("error", {reason: err.message})));
    }
  };
  yes.addEventListener("click", answer("solved"));
  no.addEventListener("click", answer("not_solved"));
  return box;
}

function nav() {
  const signedIn = Boolean(session.get());
  const here = location.hash.split("/")[0] || "#";
  const links = [["#", t("help")], ["#new", t("newTicket")], signedIn ? ["#tickets", t("myTickets")] : ["#signin", t("signIn")]];
  clear(document.getElementById("nav"),
    links.map(([href, text]) => h("a", {href, "aria-current": href === here ? "page" : null}, text)),
    signedIn ? h("a", {href: "#", id: "signout", on: {click: signOut}}, t("signOut")) : null);
  document.getElementById("brand").textContent = t("title");
  document.getElementById("language-label").textContent = t("language");
  document.title = t("title");
  document.documentElement.lang = language;
}

async function signOut(event) {
  event.preventDefault();
  try { await api("DELETE", "portal/auth/sessions/current", {auth: true}); } catch { /* over already: nothing to end */ }
  session.clear();
  location.hash = "#";
  route();
}

// --- the knowledge base -------------------------------------------------------------------------

function searchView(query) {
  const input = h("input", {id: "q", name: "q", type: "search", value: query || "", autocomplete: "off",
    placeholder: t("searchPlaceholder"), "aria-controls": "suggestions", "aria-autocomplete": "list"});
  const suggestions = h("ul", {id: "suggestions", class: "suggestions", role: "listbox", hidden: true});
  const results = h("section", {id: "results", "aria-live": "polite"});
  let timer = null;
  let asked = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      const mine = ++asked;
      if (q.length < 2) { suggestions.hidden = true; return; }
      try {
        const found = await api("GET", "kb/suggest", {query: {q, language}});
        if (mine !== asked) return;  // a later keystroke's answer wins
        clear(suggestions, found.suggestions.map((s) => h("li", {role: "option"}, h("a", {href: `#article/${encodeURIComponent(s.id)}`}, s.title))));
        suggestions.hidden = !found.suggestions.length;
      } catch { suggestions.hidden = true; }
    }, 180);
  });
  input.addEventListener("keydown", (event) => { if (event.key === "Escape") suggestions.hidden = true; });
  const form = h("form", {role: "search", class: "search", on: {submit: (event) => {
    event.preventDefault();
    suggestions.hidden = true;
    location.hash = `#search/${encodeURIComponent(input.value.trim())}`;
  }}}, h("label", {for: "q", class: "visually-hidden"}, t("searchLabel")), h("div", {class: "row"}, input,
    h("button", {type: "submit"}, t("searchButton"))), suggestions);
  clear(main, h("h1", {}, t("searchLabel")), form, results);
  if (query) showResults(results, query);
  input.focus();
}

async function showResults(section, q) {
  clear(section, h("p", {class: "muted"}, t("loading")));
  try {
    const found = await api("GET", "kb/search", {query: {q: q.slice(0, 500), language, limit: 10}});
    clear(section, h("h2", {}, t("results")),
      found.results.length ? h("ul", {class: "results"}, found.results.map((r) => h("li", {},
        h("a", {href: `#article/${encodeURIComponent(r.id)}`}, r.title), h("p", {class: "snippet"}, r.snippet || ""))))
        : h("p", {}, t("noResults")),
      h("p", {}, t("notHelpful"), " ", h("a", {href: "#new"}, t("contactUs"))));
  } catch (err) { clear(section, h("p", {class: "bad"}, t("error", {reason: err.message}))); }
}

async function articleView(id) {
  clear(main, h("p", {class: "muted"}, t("loading")));
  try {
    const article = await api("GET", `kb/articles/${encodeURIComponent(id)}`);
    const body = h("div", {class: "article-body"});
    body.append(markdown(article.body));
    const link = trackedLink(id);
    clear(main, h("p", {}, h("a", {href: "#"}, t("back"))),
      h("article", {class: "article", lang: article.language}, h("h1", {}, article.title), body),
      link ? feedback(link, article.language) : h("p", {}, t("notHelpful"), " ", h("a", {href: "#new"}, t("contactUs"))));
  } catch (err) { clear(main, h("p", {class: "bad"}, t("error", {reason: err.message}))); }
}

// --- contact us: the form -------------------------------------------------------------------------

function newTicketView() {
  const input = (name, attrs = {}) => h("input", {name, id: `f-${name}`, required: true, ...attrs});
  const subject = input("subject", {maxlength: 200});
  const hints = h("div", {id: "deflect", "aria-live": "polite"});
  subject.addEventListener("change", async () => {
    if (subject.value.trim().length < 3) return clear(hints);
    try {
      const found = await api("GET", "kb/suggest", {query: {q: subject.value.trim(), language}});
      clear(hints, found.suggestions.length ? [h("p", {class: "muted"}, t("suggested")), h("ul", {},
        found.suggestions.map((s) => h("li", {}, h("a", {href: `#article/${encodeURIComponent(s.id)}`}, s.title))))] : null);
    } catch { clear(hints); }
  });
  const files = h("input", {type: "file", name: "files", id: "f-files", multiple: true});
  const submit = h("button", {type: "submit"}, t("send"));
  const form = h("form", {id: "ticket-form", on: {submit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const data = new FormData(form);
    try {
      const uploaded = files.files.length ? await uploadAll([...files.files]) : {draft: null, ids: []};
      await api("POST", "portal/tickets", {body: {name: data.get("name"), email: data.get("email"),
        subject: data.get("subject"), message: data.get("message"), language,
        ...(uploaded.ids.length ? {draft: uploaded.draft, attachments: uploaded.ids} : {})}});
      form.reset();
      clear(hints);
      say(t("sent", {email: data.get("email")}));
    } catch (err) {
      say(t("error", {reason: err.message}), "bad");
    } finally { submit.disabled = false; }
  }}},
  field(t("name"), input("name", {maxlength: 120, autocomplete: "name"})),
  field(t("email"), input("email", {type: "email", maxlength: 254, autocomplete: "email"})),
  field(t("subject"), subject), hints,
  field(t("message"), h("textarea", {name: "message", id: "f-message", required: true, maxlength: 20000})),
  field(t("files"), files, t("filesHint")), submit);
  clear(main, h("h1", {}, t("newTicket")), form);
}

// --- signing in -------------------------------------------------------------------------------------

function signInView() {
  const email = h("input", {type: "email", name: "email", id: "s-email", required: true, autocomplete: "email"});
  const form = h("form", {id: "signin-form", on: {submit: async (event) => {
    event.preventDefault();
    try {
      await api("POST", "portal/auth/links", {body: {email: email.value.trim(), language}});
      say(t("linkSent", {email: email.value.trim()}));
    } catch (err) { say(t("error", {reason: err.message}), "bad"); }
  }}}, h("p", {}, t("signInIntro")), field(t("email"), email), h("button", {type: "submit"}, t("sendLink")));
  clear(main, h("h1", {}, t("signIn")), form);
}

// The mailed link's one-time token: exchanged at once and dropped from the address bar and history.
async function useLink(token) {
  history.replaceState(null, "", location.pathname + location.search + "#tickets");
  try {
    const opened = await api("POST", "portal/auth/sessions", {body: {token}});
    session.set({token: opened.session_token, expires_at: opened.expires_at});
    say(t("signedIn"));
  } catch (err) {
    say(t("linkFailed", {reason: err.message}), "bad");
    location.hash = "#signin";
  }
}

// --- the customer's own requests ----------------------------------------------------------------

async function signedIn(load) {
  if (!session.get()) { location.hash = "#signin"; return; }
  clear(main, h("p", {class: "muted"}, t("loading")));
  try { await load(); } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      session.clear();
      say(t("sessionEnded"), "bad");
      location.hash = "#signin";
      return;
    }
    clear(main, h("p", {class: "bad"}, t("error", {reason: err.message})));
  }
}

function ticketsView() {
  return signedIn(async () => {
    const page = await api("GET", "portal/tickets", {auth: true});
    clear(main, h("h1", {}, t("myTickets")), page.tickets.length ? h("table", {class: "tickets"},
      h("thead", {}, h("tr", {}, h("th", {}, t("number")), h("th", {}, t("subject")), h("th", {}, t("status")), h("th", {}, t("updated")))),
      h("tbody", {}, page.tickets.map((ticket) => h("tr", {},
        h("td", {}, `#${ticket.number}`),
        h("td", {}, h("a", {href: `#ticket/${ticket.id}`}, ticket.subject || `#${ticket.number}`)),
        h("td", {}, h("span", {class: `status ${ticket.status}`}, statusText(language, ticket.status))),
        h("td", {}, when(ticket.last_activity_at))))))
      : h("p", {}, t("noTickets")));
  });
}

function ticketView(id) {
  return signedIn(async () => {
    const found = await api("GET", `portal/tickets/${encodeURIComponent(id)}`, {auth: true});
    const text = h("textarea", {name: "text", id: "r-text", maxlength: 20000, required: true});
    const files = h("input", {type: "file", id: "r-files", multiple: true});
    const send = h("button", {type: "submit"}, t("sendReply"));
    const form = h("form", {id: "reply-form", on: {submit: async (event) => {
      event.preventDefault();
      send.disabled = true;
      try {
        const uploaded = files.files.length ? await uploadAll([...files.files], {auth: true}) : {draft: null, ids: []};
        await api("POST", `portal/tickets/${encodeURIComponent(id)}/replies`, {auth: true, body: {text: text.value, language,
          ...(uploaded.ids.length ? {draft: uploaded.draft, attachments: uploaded.ids} : {})}});
        form.reset();
        say(t("replySent"));
      } catch (err) { say(t("error", {reason: err.message}), "bad"); } finally { send.disabled = false; }
    }}}, field(t("reply"), text), field(t("files"), files, t("filesHint")), send);
    const ticket = found.ticket;
    clear(main, h("p", {}, h("a", {href: "#tickets"}, t("myTickets"))),
      h("h1", {}, `#${ticket.number} ${ticket.subject}`),
      h("p", {}, h("span", {class: `status ${ticket.status}`}, statusText(language, ticket.status))),
      h("h2", {}, t("conversation")),
      h("ol", {class: "conversation", role: "list"}, found.messages.map((m) => h("li", {class: `message ${m.from}`},
        h("div", {class: "meta"}, `${m.from === "customer" ? t("you") : m.author_name} · ${when(m.at)}`),
        h("div", {class: "text"}, m.text),
        m.attachments.length ? h("ul", {class: "files"}, m.attachments.map((a) => h("li", {}, `${a.filename} (${bytes(a.size)})`))) : null))),
      form);
  });
}

// --- routing ----------------------------------------------------------------------------------------

function route() {
  const hash = location.hash;
  const signin = hash.match(/^#signin=([A-Za-z0-9_]+)$/);
  if (signin) { useLink(signin[1]).then(route); return; }
  nav();
  const [name, ...rest] = hash.replace(/^#/, "").split("/");
  const arg = decodeURIComponent(rest.join("/"));
  if (name === "article" && arg) return articleView(arg);
  if (name === "new") return newTicketView();
  if (name === "signin") return signInView();
  if (name === "tickets") return ticketsView();
  if (name === "ticket" && arg) return ticketView(arg);
  return searchView(name === "search" ? arg : "");
}

const picker = document.getElementById("language");
picker.value = language;
picker.addEventListener("change", () => {
  language = picker.value;
  t = texts(language);
  remember(language);
  say("");
  route();
});
window.addEventListener("hashchange", () => { if (!location.hash.startsWith("#signin=")) say(""); route(); });
route();
