// Admin pages: agents (create, edit, remove; the new token shown once), macros, the KPI report as SVG.
import {button, clear, field, h, select} from "./dom.js";

export async function render(ctx, _key, [page = "agents"]) {
  if (ctx.me.role !== "admin") {
    clear(ctx.main, h("h1", {}, "Admins only"), h("p", {}, "These pages need an admin."));
    return;
  }
  if (page === "macros") return macros(ctx);
  if (page === "kpis") return kpis(ctx);
  return agents(ctx);
}

const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);

// --- agents ------------------------------------------------------------------------------------------

async function agents(ctx) {
  const table = h("tbody");
  const reveal = h("div", {"aria-live": "polite"});
  const draw = async () => {
    const data = await ctx.api("GET", "agents");
    ctx.agentList = null;
    clear(table, data.agents.map((a) => agentRow(ctx, a, draw)));
  };
  const name = h("input", {name: "name", required: true});
  const email = h("input", {name: "email", type: "email", required: true});
  const role = select("role", [["agent", "agent"], ["admin", "admin"]], "agent");
  const skills = h("input", {name: "skills", placeholder: "billing, technical or *"});
  const languages = h("input", {name: "languages", placeholder: "en, no"});
  const capacity = h("input", {name: "capacity", type: "number", min: 0, max: 1000, value: "10"});
  const status = select("status", [["offline", "offline"], ["online", "online"], ["away", "away"]], "offline");
  const form = h("form", {class: "card", on: {submit: async (event) => {
    event.preventDefault();
    try {
      const made = await ctx.api("POST", "agents", {body: {name: name.value.trim(), email: email.value.trim(), role: role.value,
        skills: list(skills.value), languages: list(languages.value), capacity: Number(capacity.value), status: status.value}});
      const token = h("input", {readonly: true, value: made.token, class: "token", "aria-label": "New agent's token"});
      clear(reveal, h("div", {class: "notice warn", role: "alert"}, h("p", {}, `Agent ${made.agent.name} created. Their API token, shown this once:`),
        token, button("Copy", () => { token.select(); navigator.clipboard?.writeText(made.token); }),
        h("p", {}, "They can also sign in with the emailed link.")));
      form.reset();
      await draw();
    } catch (err) { clear(reveal, h("p", {class: "notice error"}, `Not created: ${err.message}`)); }
  }}}, h("h2", {}, "New agent"), field("Name", name), field("Email", email), field("Role", role),
  field("Skills (queues)", skills), field("Languages", languages), field("Capacity", capacity), field("Status", status),
  h("button", {type: "submit", class: "primary"}, "Create agent"));
  clear(ctx.main, h("h1", {}, "Agents"), reveal, h("table", {class: "grid"},
    h("thead", {}, h("tr", {}, ["Name", "Email", "Role", "Skills", "Languages", "Load", "Status", ""].map((c) => h("th", {scope: "col"}, c)))), table), form);
  await draw();
}

function agentRow(ctx, a, redraw) {
  const status = select("status", [["online", "online"], ["away", "away"], ["offline", "offline"]], a.status,
    {"aria-label": `Status of ${a.name}`});
  const capacity = h("input", {type: "number", min: 0, max: 1000, value: String(a.capacity), class: "narrow", "aria-label": `Capacity of ${a.name}`});
  const skills = h("input", {value: a.skills.join(", "), "aria-label": `Skills of ${a.name}`});
  const save = async () => {
    try {
      await ctx.api("PATCH", `agents/${a.id}`, {body: {status: status.value, capacity: Number(capacity.value), skills: list(skills.value)}});
      ctx.notice(`${a.name} saved.`);
      await redraw();
    } catch (err) { ctx.notice(`Not saved: ${err.message}`, "error"); }
  };
  return h("tr", {}, h("td", {}, a.name), h("td", {}, a.email), h("td", {}, a.role), h("td", {}, skills), h("td", {}, a.languages.join(", ")),
    h("td", {}, `${a.open_count} / `, capacity), h("td", {}, status),
    h("td", {}, button("Save", save), " ", button("Remove", async (event) => {
      const b = event.currentTarget;
      if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = `Really remove ${a.name}?`; return; }
      try { await ctx.api("DELETE", `agents/${a.id}`); ctx.notice(`${a.name} removed; their tickets went back to the queue.`); await redraw(); }
      catch (err) { ctx.notice(`Not removed: ${err.message}`, "error"); }
    }, {class: "danger"})));
}

// --- macros -------------------------------------------------------------------------------------------

async function macros(ctx) {
  const items = h("div", {class: "macros"});
  const editor = h("div");
  const draw = async () => {
    const data = await ctx.api("GET", "macros");
    clear(items, h("table", {class: "grid"}, h("thead", {}, h("tr", {}, ["Title", "Id", "Queues", "Actions", ""].map((c) => h("th", {scope: "col"}, c)))),
      h("tbody", {}, data.macros.map((m) => h("tr", {}, h("td", {}, m.title, m.starter ? h("span", {class: "pill"}, "starter") : null), h("td", {}, m.id),
        h("td", {}, (m.categories || []).join(", ") || "all"), h("td", {}, describe(m.actions)),
        h("td", {}, button("Edit", () => edit(m)), " ", button("Delete", async (event) => {
          const b = event.currentTarget;
          if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Really delete?"; return; }
          try { await ctx.api("DELETE", `macros/${m.id}`); ctx.notice(`Macro ${m.id} deleted.`); await draw(); }
          catch (err) { ctx.notice(`Not deleted: ${err.message}`, "error"); }
        }, {class: "danger"})))))));
  };
  const edit = (m) => {
    const creating = !m;
    m = m || {id: "", title: "", body: "", description: "", categories: [], actions: {}};
    const a = m.actions || {};
    const id = h("input", {name: "id", required: true, value: m.id, readonly: !creating, pattern: "[a-z0-9][a-z0-9-]{0,62}"});
    const title = h("input", {name: "title", required: true, value: m.title});
    const body = h("textarea", {name: "body", rows: 8, required: true, value: m.body});
    const description = h("input", {name: "description", value: m.description || ""});
    const categories = h("input", {name: "categories", value: (m.categories || []).join(", "), placeholder: "empty: every queue"});
    const setStatus = select("set_status", [["", "(leave)"], ...["open", "pending", "on_hold", "solved", "closed"].map((s) => [s, s])], a.set_status || "");
    const setPriority = select("set_priority", [["", "(leave)"], ...["urgent", "high", "normal", "low"].map((s) => [s, s])], a.set_priority || "");
    const addTags = h("input", {name: "add_tags", value: (a.add_tags || []).join(", ")});
    const status = h("p", {role: "status"});
    clear(editor, h("form", {class: "card", on: {submit: async (event) => {
      event.preventDefault();
      const actions = {add_tags: list(addTags.value)};
      if (setStatus.value) actions.set_status = setStatus.value;
      if (setPriority.value) actions.set_priority = setPriority.value;
      if (a.remove_tags && a.remove_tags.length) actions.remove_tags = a.remove_tags;
      const macro = {id: id.value.trim(), title: title.value, body: body.value, description: description.value,
        categories: list(categories.value), actions};
      try {
        await ctx.api(creating ? "POST" : "PUT", creating ? "macros" : `macros/${macro.id}`, {body: macro});
        ctx.notice(`Macro ${macro.id} saved.`);
        clear(editor);
        await draw();
      } catch (err) { status.textContent = `Not saved: ${err.message}`; }
    }}}, h("h2", {}, creating ? "New macro" : `Edit ${m.id}`), field("Id", id), field("Title", title),
    field("Body (placeholders: {{ customer.name }}, {{ ticket.number }}, {{ agent.name }}, {{ order_number }})", body),
    field("Description", description), field("Queues", categories), field("Set status", setStatus), field("Set priority", setPriority),
    field("Add tags", addTags), h("button", {type: "submit", class: "primary"}, "Save macro"), " ", button("Cancel", () => clear(editor)), status));
    title.focus();
  };
  clear(ctx.main, h("h1", {}, "Macros"), button("New macro", () => edit(null), {class: "primary"}), editor, items);
  await draw();
}

function describe(a = {}) {
  return [a.set_status && `status → ${a.set_status}`, a.set_priority && `priority → ${a.set_priority}`,
    ...(a.add_tags || []).map((t) => `+${t}`), ...(a.remove_tags || []).map((t) => `−${t}`)].filter(Boolean).join(", ");
}

// --- KPIs ---------------------------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : String(c));
  return el;
}

async function kpis(ctx) {
  const today = new Date().toISOString().slice(0, 10);
  const monthAgo = new Date(Date.now() - 29 * 864e5).toISOString().slice(0, 10);
  const from = h("input", {type: "date", name: "from", value: monthAgo});
  const to = h("input", {type: "date", name: "to", value: today});
  const groupBy = select("group_by", ["channel", "priority", "queue", "agent"].map((g) => [g, g]), "channel");
  const out = h("div", {"aria-live": "polite"});
  const run = async () => {
    clear(out, h("p", {class: "muted"}, "Loading…"));
    try {
      const report = await ctx.api("GET", "reports/kpis", {query: {from: from.value, to: to.value, group_by: groupBy.value}});
      clear(out, chart(report), table(report));
    } catch (err) { clear(out, h("p", {class: "notice error"}, err.message)); }
  };
  clear(ctx.main, h("h1", {}, "KPI report"), h("form", {class: "row", on: {submit: (e) => { e.preventDefault(); run(); }}},
    field("From", from), field("To", to), field("Group by", groupBy), h("button", {type: "submit", class: "primary"}, "Show")), out);
  await run();
}

const COLUMNS = [["volume", "Volume"], ["solved", "Solved"], ["reopened", "Reopened"], ["first_response_p50", "FRT p50"],
  ["first_response_p90", "FRT p90"], ["resolution_p50", "Resolution p50"], ["sla_pct", "SLA %"], ["csat_pct", "CSAT %"], ["nps", "NPS"]];

// Minutes as people read them, as the CLI's table does (domain/kpis.py format_duration): "42 s", "7.5 min", "1.5 h".
function duration(minutes) {
  const s = minutes * 60;
  if (s < 1) return "<1 s";
  if (Math.round(s) < 60) return `${Math.round(s)} s`;
  if (Math.round(minutes * 10) / 10 < 10) return `${minutes.toFixed(1)} min`;
  if (Math.round(minutes) < 60) return `${Math.round(minutes)} min`;
  if (Math.round(minutes / 6) / 10 < 24) return `${(minutes / 60).toFixed(1)} h`;
  return `${(minutes / 1440).toFixed(1)} d`;
}

function table(report) {
  const cell = (k, v) => h("td", {}, v === null || v === undefined ? "—" : /_p\d0$/.test(k) ? duration(v)
    : typeof v === "number" ? String(Math.round(v * 10) / 10) : v);
  // By agent, volume is the tickets assigned to the agent and solved the ones they set to solved (GET /reports/kpis).
  const title = (k, t) => k === "volume" && report.group_by === "agent" ? "Assigned" : t;
  return h("table", {class: "grid"}, h("caption", {}, `${report.start} – ${report.end}, by ${report.group_by}`),
    h("thead", {}, h("tr", {}, h("th", {scope: "col"}, report.group_by), COLUMNS.map(([k, t]) => h("th", {scope: "col"}, title(k, t))))),
    h("tbody", {}, [...report.rows, {...report.totals, label: "All"}].map((r) => h("tr", {}, h("th", {scope: "row"}, r.label ?? r.group), COLUMNS.map(([k]) => cell(k, r[k]))))));
}

// Grouped bars: volume and solved per group, with first-response p50 as a dot on a second axis.
function chart(report) {
  const rows = report.rows;
  const name = (r) => r.label ?? r.group;  // by agent: the agent's name
  const W = 720, H = 260, L = 40, B = 40, T = 20;
  if (!rows.length) return h("p", {class: "muted"}, "No data in this range.");
  const max = Math.max(1, ...rows.map((r) => Math.max(r.volume, r.solved)));
  const frtMax = Math.max(1, ...rows.map((r) => r.first_response_p50 || 0));
  const band = (W - L - 10) / rows.length, bar = Math.min(28, band / 3);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart", "aria-labelledby": "chart-title"},
    s("title", {id: "chart-title"}, `${report.group_by === "agent" ? "Assigned" : "Volume"} and solved tickets per ${report.group_by}; dots: first response p50`),
    s("line", {x1: L, y1: y(0), x2: W - 10, y2: y(0), class: "axis"}),
    s("text", {x: L - 6, y: y(max) + 4, "text-anchor": "end", class: "tick"}, String(max)),
    s("text", {x: L - 6, y: y(0) + 4, "text-anchor": "end", class: "tick"}, "0"));
  rows.forEach((r, i) => {
    const x = L + i * band + band / 2;
    svg.append(
      s("rect", {x: x - bar - 1, y: y(r.volume), width: bar, height: y(0) - y(r.volume), class: "bar volume"}, s("title", {}, `${name(r)}: ${r.volume} tickets`)),
      s("rect", {x: x + 1, y: y(r.solved), width: bar, height: y(0) - y(r.solved), class: "bar solved"}, s("title", {}, `${name(r)}: ${r.solved} solved`)),
      s("text", {x, y: H - B + 16, "text-anchor": "middle", class: "tick"}, name(r)));
    if (r.first_response_p50 !== null && r.first_response_p50 !== undefined) {
      const fy = T + (H - T - B) * (1 - r.first_response_p50 / frtMax);
      svg.append(s("circle", {cx: x, cy: fy, r: 5, class: "frt"}, s("title", {}, `${name(r)}: first response p50 ${duration(r.first_response_p50)}`)));
    }
  });
  return h("figure", {class: "card"}, svg, h("figcaption", {class: "legend"}, h("span", {class: "key volume"}), "volume ",
    h("span", {class: "key solved"}, ""), "solved ", h("span", {class: "key frt"}), `first response p50 (max ${duration(frtMax)})`));
}
