// The console's shell: session, hash routes, header, keyboard. Views live in views-*.js, loaded on first use.
import {api, ApiError, session, whenUnauthorized} from "./api.js";
import {$, clear, h, tickClocks} from "./dom.js";

const main = $("#main");
const ctx = {
  me: null,
  main,
  keys: null, // the current view's keyboard handler (inbox: j/k/Enter)
  go(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  notice(text, kind = "info") {
    const box = $("#notice");
    clear(box, text ? h("p", {class: `notice ${kind}`}, text) : null);
    if (text && kind !== "error") setTimeout(() => { if (box.textContent === text) clear(box); }, 6000);
  },
  api,
};

const VIEWS = {
  inbox: () => import("./views-inbox.js"),
  find: () => import("./views-inbox.js"),
  ticket: () => import("./views-ticket.js"),
  new: () => import("./views-new.js"),
  admin: () => import("./views-admin.js"),
  signin: () => import("./views-signin.js"),
};

whenUnauthorized((error) => {
  const was = ctx.me;
  session.clear();
  ctx.me = null;
  signinView(`${was ? "Signed out" : "Not signed in"}: ${error.message}`);
});

async function signinView(reason) {
  $("#top").hidden = true;
  const view = await VIEWS.signin();
  view.render(ctx, reason);
}

let routing = 0;
async function route() {
  const run = ++routing;
  if (!ctx.me) return signinView();
  const [name, ...rest] = location.hash.replace(/^#/, "").split("/").map(decodeURIComponent);
  const key = VIEWS[name] && name !== "signin" ? name : "inbox";
  ctx.keys = null;
  try {
    const view = await VIEWS[key]();
    if (run !== routing) return;
    markNav(key === "find" ? "" : location.hash);
    await view.render(ctx, key, rest);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    clear(main, h("h1", {}, "Something went wrong"), h("p", {class: "error"}, err.message));
  }
}

// "#inbox/…" and "#ticket/…" belong to Inbox; each admin page is its own section.
const section = (hash) => (hash.startsWith("#admin") ? hash.split("/").slice(0, 2).join("/")
  : hash.startsWith("#ticket") ? "#inbox" : hash.split("/")[0]);

function markNav(hash) {
  for (const a of document.querySelectorAll("#nav a")) {
    if (section(hash) === section(a.getAttribute("href"))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function header() {
  const links = [["#inbox/mine", "Inbox"], ["#new", "Open a ticket"]];
  if (ctx.me.role === "admin") links.push(["#admin/agents", "Agents"], ["#admin/macros", "Macros"], ["#admin/kpis", "KPIs"]);
  clear($("#nav"), links.map(([href, text]) => h("a", {href}, text)));
  clear($("#who"), `${ctx.me.name || ctx.me.email} (${ctx.me.role})`);
  $("#top").hidden = false;
}

// Called by the sign-in view, and at start with a stored session.
ctx.signedIn = async function signedIn() {
  const me = await api("GET", "auth/me");
  ctx.me = me.agent || me;
  header();
  if (!location.hash || location.hash.startsWith("#signin")) history.replaceState(null, "", "#inbox/mine");
  await route();
};

$("#signout").addEventListener("click", async () => {
  const current = session.get();
  if (current && current.kind === "session") {
    try { await api("DELETE", "auth/sessions/current"); } catch { /* signed out below either way */ }
  }
  session.clear();
  ctx.me = null;
  history.replaceState(null, "", location.pathname);
  signinView("You are signed out.");
});

$("#search").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = $("#q").value.trim();
  if (q) ctx.go(`#find/${encodeURIComponent(q)}`);
});

document.addEventListener("keydown", (event) => {
  const typing = event.target.closest("input, textarea, select, [contenteditable]");
  if (event.key === "Escape" && typing) { event.target.blur(); return; }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "/" && ctx.me) { event.preventDefault(); $("#q").focus(); $("#q").select(); return; }
  if (ctx.keys && ctx.keys(event)) event.preventDefault();
});

setInterval(() => tickClocks(), 30000);

// The emailed link's one-time token (#signin=…): exchange it at once and drop it from the address bar and
// history. Also on hashchange: a link opened in a tab that already shows the console only changes the hash.
async function useLink() {
  const match = location.hash.match(/^#signin=([^&/]+)/);
  if (!match) return true;
  history.replaceState(null, "", location.pathname + "#inbox/mine");
  try {
    const made = await api("POST", "auth/sessions", {body: {token: decodeURIComponent(match[1])}, auth: false});
    session.set({token: made.session_token, expires_at: made.expires_at, kind: "session"});
    ctx.me = null;
    return true;
  } catch (err) {
    signinView(`That sign-in link did not work: ${err.message}`);
    return false;
  }
}

async function start() {
  if (!(await useLink())) return;
  if (!session.get()) return signinView();
  try {
    await ctx.signedIn();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) signinView(`Could not sign in: ${err.message}`);
  }
}

window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#signin=")) start();
  else route();
});
start();
