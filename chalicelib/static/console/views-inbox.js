// The inbox (views with counts, pages, SLA clocks, j/k/Enter) and Find (GET /search).
import {clear, h, select, slaBadge, ago, tickClocks} from "./dom.js";

const STATUSES = ["open", "pending", "on_hold", "solved", "closed", "spam"];
const PRIORITIES = ["urgent", "high", "normal", "low"];
const CHANNELS = ["email", "slack", "whatsapp", "messenger", "telegram", "sms", "webchat", "portal"];
const PAGE = 25; // a screenful; "Load more" follows next_cursor
const TITLES = {mine: "My tickets", unassigned: "Unassigned", overdue: "Overdue"};

export async function render(ctx, key, rest) {
  if (key === "find") return find(ctx, rest.join("/"));
  const [view = "mine", a, b] = rest;
  // Each view is one index: assignee, queue, priority or channel (with a status), a status alone, or overdue.
  let query, title, status, hashBase;
  if (view === "mine" || view === "unassigned") {
    status = a || "open";
    query = {assignee: view === "mine" ? "me" : "none", status};
    title = TITLES[view];
    hashBase = `#inbox/${view}`;
  } else if (view === "overdue") {
    query = {overdue: "true"};
    title = TITLES.overdue;
  } else if (view === "status") {
    status = a || "open";
    query = {status};
    title = `Status: ${status.replace("_", " ")}`;
    hashBase = "#inbox/status";
  } else if (["queue", "priority", "channel"].includes(view) && a) {
    status = b || "open";
    query = {[view]: a, status};
    title = `${view[0].toUpperCase()}${view.slice(1)}: ${a}`;
    hashBase = `#inbox/${view}/${encodeURIComponent(a)}`;
  } else {
    return ctx.go("#inbox/mine");
  }

  const side = h("nav", {class: "views", "aria-label": "Ticket views"});
  drawViews(side, location.hash, ctx.counts);
  const list = h("tbody");
  const more = h("button", {type: "button", hidden: true}, "Load more");
  const heading = h("h1", {}, title);
  const summary = h("p", {class: "muted", role: "status"}, "Loading…");
  const statusPicker = status === undefined ? null : select("status", STATUSES.map((s) => [s, s.replace("_", " ")]), status, {
    id: "view-status", on: {change: (event) => ctx.go(`${hashBase}/${event.target.value}`)}});
  clear(ctx.main, h("div", {class: "inbox"}, side, h("section", {class: "list"},
    h("div", {class: "list-head"}, heading, statusPicker ? h("label", {class: "inline"}, "Status ", statusPicker) : null),
    summary,
    h("table", {class: "tickets", "aria-busy": "true"}, h("caption", {class: "visually-hidden"}, title),
      h("thead", {}, h("tr", {}, ["#", "Subject", "Requester", "Status", "Priority", "Channel", "Assignee", "SLA", "Activity"]
        .map((c) => h("th", {scope: "col"}, c)))), list),
    more)));

  let cursor = null, shown = 0;
  async function page() {
    more.disabled = true;
    const data = await ctx.api("GET", "tickets", {query: {...query, limit: PAGE, cursor}});
    for (const ticket of data.tickets) list.append(row(ticket));
    shown += data.tickets.length;
    cursor = data.next_cursor;
    more.hidden = !cursor;
    more.disabled = false;
    summary.textContent = shown ? `${shown} ticket${shown === 1 ? "" : "s"}${cursor ? " (more below)" : ""}. j/k to move, Enter to open.` : "No tickets here.";
  }
  more.addEventListener("click", () => page().catch((err) => ctx.notice(err.message, "error")));
  await page();
  list.parentElement.setAttribute("aria-busy", "false");
  performance.mark("relay:inbox-ready"); // measured by tests/browser/console_measure.py
  counts(ctx, side, location.hash); // after the list: the counts' queries must not delay the first page
  if (!document.activeElement || document.activeElement === document.body) ctx.main.focus({preventScroll: true});
  ctx.keys = (event) => move(list, event);
  tickClocks(list);
}

function row(t) {
  return h("tr", {"data-id": t.id, class: `prio-${t.priority}`},
    h("td", {}, `#${t.number}`),
    h("td", {class: "subject"}, h("a", {href: `#ticket/${t.id}`}, t.subject || "(no subject)")),
    h("td", {}, t.requester_name || t.requester || ""),
    h("td", {}, h("span", {class: `pill st-${t.status}`}, t.status.replace("_", " "))),
    h("td", {}, h("span", {class: `pill pr-${t.priority}`}, t.priority)),
    h("td", {}, t.channel),
    h("td", {}, t.assignee_name || "—"),
    h("td", {}, slaBadge(t)),
    h("td", {title: t.last_activity_at}, ago(t.last_activity_at)));
}

// j/k move the selection (focus on the row's link), Enter opens it.
function move(list, event) {
  const rows = [...list.rows];
  if (!rows.length) return false;
  const at = rows.findIndex((r) => r.classList.contains("selected"));
  if (event.key === "j" || event.key === "k") {
    const next = at < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, at + (event.key === "j" ? 1 : -1)));
    if (at >= 0) rows[at].classList.remove("selected");
    rows[next].classList.add("selected");
    rows[next].querySelector("a").focus();
    return true;
  }
  if (event.key === "Enter" && at >= 0 && event.target.tagName !== "A") {
    location.hash = rows[at].querySelector("a").getAttribute("href");
    return true;
  }
  return false;
}

async function counts(ctx, side, current) {
  try {
    ctx.counts = await ctx.api("GET", "tickets/counts");
    ctx.queues = Object.keys(ctx.counts.by_queue || {});
    drawViews(side, current, ctx.counts);
  } catch (err) {
    side.prepend(h("p", {class: "muted"}, `Counts unavailable: ${err.message}`));
  }
}

// The views with the counts last seen (drawn at once from the previous load, refreshed after the list).
function drawViews(side, current, c = {}) {
  const link = (href, text, count) => h("a", {href, "aria-current": current.startsWith(href) ? "page" : null},
    h("span", {}, text), count === undefined ? null : h("span", {class: "count"}, String(count)));
  const group = (title, entries) => entries.length ? h("div", {class: "group"}, h("h2", {}, title), entries) : null;
  clear(side,
    group("Views", [link("#inbox/mine", "Mine", c.mine), link("#inbox/unassigned", "Unassigned", c.unassigned),
      link("#inbox/overdue", "Overdue", c.overdue)]),
    group("Status", STATUSES.map((s) => link(`#inbox/status/${s}`, s.replace("_", " "), (c.by_status || {})[s]))),
    group("Queue", Object.keys(c.by_queue || {}).sort().map((q) => link(`#inbox/queue/${encodeURIComponent(q)}`, q, c.by_queue[q]))),
    group("Priority", PRIORITIES.map((p) => link(`#inbox/priority/${p}`, p, (c.by_priority || {})[p]))),
    group("Channel", CHANNELS.map((ch) => link(`#inbox/channel/${ch}`, ch, (c.by_channel || {})[ch]))));
}

async function find(ctx, q) {
  const input = document.getElementById("q");
  if (input && input.value !== q) input.value = q;
  clear(ctx.main, h("h1", {}, "Find: ", q), h("p", {class: "muted", role: "status"}, "Searching…"));
  const data = await ctx.api("GET", "search", {query: {q}});
  const tickets = data.tickets || [], customers = data.customers || [];
  if (/^#\d+$/.test(q.trim()) && tickets.length === 1) {
    history.replaceState(null, "", `#ticket/${tickets[0].id}`);
    return ctx.go(`#ticket/${tickets[0].id}`);
  }
  const list = h("tbody", {}, tickets.map(row));
  clear(ctx.main, h("h1", {}, "Find: ", q),
    h("p", {class: "muted", role: "status"}, `${tickets.length} ticket(s), ${customers.length} customer(s)` +
      (data.kind ? ` — searched by ${data.kind}` : "")),
    tickets.length ? h("table", {class: "tickets"}, h("caption", {class: "visually-hidden"}, "Tickets found"),
      h("thead", {}, h("tr", {}, ["#", "Subject", "Requester", "Status", "Priority", "Channel", "Assignee", "SLA", "Activity"]
        .map((c) => h("th", {scope: "col"}, c)))), list) : null,
    customers.length ? h("section", {class: "customers"}, h("h2", {}, "Customers"), customers.map((c) => customerCard(ctx, c))) : null);
  ctx.keys = (event) => move(list, event);
}

function customerCard(ctx, c) {
  const past = h("ul", {class: "past"});
  const more = h("button", {type: "button", on: {click: async () => {
    more.disabled = true;
    try {
      const full = await ctx.api("GET", `customers/${c.id}`);
      clear(past, (full.previous_tickets || []).map((t) => h("li", {}, h("a", {href: `#ticket/${t.id}`}, `#${t.number} ${t.subject}`),
        ` — ${t.status}, ${ago(t.created_at)}`)));
      if (!past.children.length) past.append(h("li", {}, "No tickets."));
    } catch (err) { ctx.notice(err.message, "error"); }
  }}}, "Show tickets");
  return h("article", {class: "card customer"}, h("h3", {}, c.name || "(no name)"), c.tier ? h("span", {class: "pill"}, c.tier) : null,
    h("p", {}, (c.identities || []).join(", ")), more, past);
}
