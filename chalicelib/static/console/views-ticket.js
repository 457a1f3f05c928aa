// One ticket: the conversation across channels, the customer, the audit trail, and every action on it.
// Email HTML is shown only in a sandboxed srcdoc iframe (no scripts, opaque origin, its own CSP first).
import {ApiError, newRequestKey, upload} from "./api.js";
import {$, ago, button, bytes, clear, field, h, select, slaBadge, tickClocks, when} from "./dom.js";

const STATUSES = ["open", "pending", "on_hold", "solved", "closed"];
const PRIORITIES = ["urgent", "high", "normal", "low"];
const FRAME_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";
const REMOTE = /(?:src|background|href)\s*=\s*["']?\s*(?:https?:)?\/\/|url\(\s*["']?\s*(?:https?:)?\/\//i;
const WATCHED = ["status", "priority", "category", "assignee_name", "tags", "merged_into", "message_count"];

// Unsent work per ticket survives reloads, conflicts and navigating away within the tab.
const drafts = new Map();

export async function render(ctx, _key, [id]) {
  const view = new TicketView(ctx, id);
  await view.load();
}

class TicketView {
  constructor(ctx, id) {
    this.ctx = ctx;
    this.id = id;
    this.ticket = null;
    this.conflict = h("div", {class: "conflict", role: "alert", hidden: true});
    this.draft = drafts.get(id) || {mode: "reply", text: "", cc: "", macro: "", order: "", files: [], edit: null};
    drafts.set(id, this.draft);
    this.parts = {head: h("header", {class: "ticket-head"}), conversation: h("ol", {class: "conversation"}),
      side: h("aside", {class: "side"}), composer: null};
    clear(ctx.main, h("article", {class: "ticket"}, this.parts.head, this.conflict,
      h("div", {class: "cols"}, h("section", {class: "main-col", "aria-label": "Conversation"}, this.parts.conversation,
        h("div", {class: "composer-slot"})), this.parts.side)));
    ctx.keys = (event) => {
      if (event.key === "r") { const box = $("#composer-text"); if (box && !box.disabled) box.focus(); return true; }
      if (event.key === "u") { history.back(); return true; }
      return false;
    };
  }

  async load() {
    const ticket = await this.ctx.api("GET", `tickets/${this.id}`);
    const before = this.ticket;
    this.ticket = ticket;
    this.draw();
    if (!this.parts.composer) {
      this.parts.composer = this.composer();
      $(".composer-slot", this.ctx.main).append(this.parts.composer);
    } else {
      this.refreshComposer();
    }
    tickClocks(this.ctx.main);
    this.customer();
    return before;
  }

  draw() {
    const t = this.ticket;
    document.title = `#${t.number} ${t.subject} — Relay Desk`;
    clear(this.parts.head,
      h("p", {class: "crumbs"}, h("a", {href: "#inbox/mine"}, "Inbox"), " / ", `#${t.number} `,
        button("Refresh", () => this.load().catch((err) => this.ctx.notice(err.message, "error")), {class: "link", title: "Reload the ticket (your drafts stay)"})),
      h("h1", {}, h("span", {class: "number"}, `#${t.number} `), t.subject || "(no subject)"),
      h("p", {class: "facts"},
        h("span", {class: `pill st-${t.status}`}, t.status.replace("_", " ")),
        h("span", {class: `pill pr-${t.priority}`}, t.priority),
        h("span", {class: "pill"}, (t.channels && t.channels.length ? t.channels : [t.channel]).join(" + ")),
        h("span", {class: "pill"}, `queue ${t.category}`),
        slaBadge(t),
        ` ${t.assignee_name ? "Assigned to " + t.assignee_name : "Unassigned"} · opened ${when(t.created_at)} · version ${t.version}`),
      t.merged_into ? h("p", {class: "notice warn"}, "Merged into ", h("a", {href: `#ticket/${t.merged_into}`}, "the surviving ticket"), ".") : null,
      t.delivery_problem ? h("p", {class: "notice error"}, `Delivery problem: ${t.delivery_problem.status} to ${t.delivery_problem.recipient || "?"} ` +
        `(${t.delivery_problem.diagnostic || "no diagnostic"}) at ${when(t.delivery_problem.at)}`) : null,
      t.quarantine_reason ? h("p", {class: "notice warn"}, `Quarantined: ${t.quarantine_reason}`) : null,
      botNotice(t.bot), selfService(t));
    const items = (t.messages || []).map((m) => [m.created_at || "", this.message(m)]);
    if (t.acknowledgement) items.push([t.acknowledgement.sent_at || t.created_at || "", acknowledgement(t.acknowledgement)]);
    items.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    clear(this.parts.conversation, items.map(([, el]) => el));
    clear(this.parts.side, this.properties(), this.slaPanel(), h("section", {class: "panel customer", "aria-label": "Customer"},
      h("h2", {}, "Customer"), h("p", {class: "muted"}, t.requester_name || t.requester || "")), this.auditPanel(), this.mergePanel());
  }

  // --- the conversation ---------------------------------------------------------------------------

  message(m) {
    const note = m.kind === "note";
    const cls = note ? "note" : m.direction;
    const from = (m.from || "").replace(/^email:/, "");
    const who = m.kind === "bot" ? "Chat bot" : m.from_name && from.startsWith("agent:") ? m.from_name
      : m.from_name && m.from_name !== from ? `${m.from_name} <${from}>` : from;
    const meta = [h("strong", {}, note ? `Internal note — ${who}` : who),
      h("span", {class: "pill"}, m.channel), h("time", {datetime: m.created_at, title: when(m.created_at)}, ago(m.created_at))];
    if (m.to && m.to.length && !note) meta.push(h("span", {class: "muted"}, `to ${m.to.join(", ")}`));
    if (m.direction === "outbound" && !note) meta.push(delivery(m));
    if (m.auto_reply_reason) meta.push(h("span", {class: "pill warn"}, `auto-reply: ${m.auto_reply_reason}`));
    for (const flag of m.flags || []) meta.push(h("span", {class: "pill"}, flag));
    let body;
    if (m.html) {
      const remote = REMOTE.test(m.html);
      body = [h("p", {class: "remote-note"}, remote ? "Remote images blocked (this mail links to some)" : "Remote images blocked"),
        h("iframe", {class: "mail-html", sandbox: "", referrerpolicy: "no-referrer", loading: "lazy",
          title: `Email from ${who}`, srcdoc: `<meta http-equiv="Content-Security-Policy" content="${FRAME_CSP}">` + m.html}),
        m.text ? h("details", {}, h("summary", {}, "Plain text"), h("pre", {class: "text"}, m.full_text || m.text)) : null];
    } else {
      body = [h("pre", {class: "text"}, m.text || ""),
        m.full_text && m.full_text.trim() !== (m.text || "").trim() ? h("details", {}, h("summary", {}, "Quoted text"), h("pre", {class: "text"}, m.full_text)) : null];
    }
    const files = (m.attachments || []).length ? h("ul", {class: "attachments", "aria-label": "Attachments"},
      m.attachments.map((a) => h("li", {}, button(`⬇ ${a.filename} (${bytes(a.size)})`, (event) => this.download(a, event.currentTarget),
        {class: "link", "data-attachment": a.id || a.ref || ""})))) : null;
    return h("li", {class: `msg ${cls}`, "data-message": m.id}, h("div", {class: "meta"}, meta), body, files);
  }

  async download(attachment, control) {
    control.disabled = true;
    try {
      const found = await this.ctx.api("GET", `tickets/${this.id}/attachments/${encodeURIComponent(attachment.id || attachment.ref)}`);
      if (!/^https?:$/.test(new URL(found.url, document.baseURI).protocol)) throw new Error("not a download link");
      const a = h("a", {href: found.url, download: attachment.filename, rel: "noopener noreferrer", hidden: true});
      document.body.append(a);
      a.click();
      a.remove();
    } catch (err) {
      this.ctx.notice(`Could not download ${attachment.filename}: ${err.message}`, "error");
    } finally {
      control.disabled = false;
    }
  }

  // --- the composer: reply (text or macro, CC, attachments) or internal note ---------------------

  composer() {
    const d = this.draft;
    const t = this.ticket;
    const text = h("textarea", {id: "composer-text", name: "text", rows: 7, value: d.text,
      on: {input: () => { d.text = text.value; }}});
    const cc = h("input", {type: "text", name: "cc", value: d.cc, placeholder: "a@example.com, b@example.com",
      on: {input: () => { d.cc = cc.value; }}});
    const order = h("input", {type: "text", name: "order_number", value: d.order, on: {input: () => { d.order = order.value; }}});
    const files = h("input", {type: "file", name: "files", multiple: true, on: {change: () => { d.files = [...files.files]; listFiles(); }}});
    const fileList = h("ul", {class: "files"});
    const macroPick = h("select", {name: "macro", id: "composer-macro", on: {change: () => { d.macro = macroPick.value; preview(); }}},
      h("option", {value: ""}, "— none: write the reply —"));
    const macroPreview = h("div", {class: "macro-preview", "aria-live": "polite"});
    const status = h("p", {class: "status", role: "status"});
    const send = h("button", {type: "submit", class: "primary"}, "Send reply");
    const mode = (value, label) => h("label", {class: "inline"}, h("input", {type: "radio", name: "mode", value,
      checked: d.mode === value, on: {change: () => { d.mode = value; sync(); }}}), label);
    let macros = [];

    const listFiles = () => clear(fileList, d.files.map((f) => h("li", {}, `${f.name} (${bytes(f.size)})`)));
    const preview = () => {
      const macro = macros.find((m) => m.id === d.macro);
      if (!macro) { clear(macroPreview); sync(); return; }
      const acts = macro.actions || {};
      const effects = [acts.set_status && `status → ${acts.set_status}`, acts.set_priority && `priority → ${acts.set_priority}`,
        ...(acts.add_tags || []).map((x) => `+${x}`), ...(acts.remove_tags || []).map((x) => `−${x}`)].filter(Boolean);
      clear(macroPreview, h("h3", {}, macro.title), macro.description ? h("p", {class: "muted"}, macro.description) : null,
        h("pre", {class: "text template"}, macro.body),
        h("p", {class: "muted"}, "Placeholders are filled in for this customer when sent.",
          effects.length ? ` Also: ${effects.join(", ")}.` : ""));
      sync();
    };
    const sync = () => {
      const reply = d.mode === "reply";
      const usingMacro = reply && Boolean(d.macro);
      text.disabled = usingMacro;
      textField.hidden = usingMacro; // the macro's own text is what is sent
      const email = this.ticket.channel === "email";  // CC and files go with email replies only
      ccField.hidden = !reply || !email;
      macroField.hidden = !reply;
      macroPreview.hidden = !usingMacro;
      orderField.hidden = !usingMacro || !/order_number/.test((macros.find((m) => m.id === d.macro) || {}).body || "");
      filesField.hidden = !reply || !email;
      send.textContent = reply ? (usingMacro ? "Send macro reply" : "Send reply") : "Add internal note";
      form.classList.toggle("noting", !reply);
    };
    const ccField = field("CC", cc, "Email only: comma-separated addresses.");
    const textField = field("Message", text);
    const macroField = field("Macro", macroPick);
    const orderField = field("Order number", order);
    const filesField = h("div", {}, field("Attachments", files), fileList);
    const form = h("form", {class: "composer", "aria-label": "Reply or note", on: {submit: (event) => { event.preventDefault(); this.send(status, send).then(() => {
      text.value = d.text; cc.value = d.cc; order.value = d.order; macroPick.value = d.macro;
      if (!d.files.length) files.value = "";
      listFiles(); preview();
    }); }}},
    h("fieldset", {class: "modes"}, h("legend", {}, "Write"), mode("reply", "Reply to customer"), mode("note", "Internal note")),
    macroField, macroPreview, orderField, textField, ccField, filesField, h("div", {class: "actions"}, send), status);

    this.ctx.api("GET", "macros", {query: {queue: t.category}}).then((data) => {
      macros = data.macros || [];
      macroPick.append(...macros.map((m) => h("option", {value: m.id, selected: m.id === d.macro}, m.title)));
      preview();
    }).catch((err) => { macroPick.append(h("option", {disabled: true}, `macros unavailable: ${err.message}`)); });
    listFiles();
    sync();
    this.refreshComposer = () => sync();
    return form;
  }

  refreshComposer() {}

  async send(status, control) {
    const d = this.draft;
    const note = d.mode === "note";
    if (!note && !d.macro && !d.text.trim()) { status.textContent = "Write a reply or pick a macro first."; return; }
    if (note && !d.text.trim()) { status.textContent = "Write the note first."; return; }
    control.disabled = true;
    try {
      if (note) {
        await this.ctx.api("POST", `tickets/${this.id}/notes`, {body: {text: d.text}});
      } else {
        const body = d.macro ? {macro_id: d.macro} : {text: d.text};
        if (d.macro && d.order.trim()) body.order_number = d.order.trim();
        const cc = d.cc.split(/[,;\s]+/).map((x) => x.trim()).filter(Boolean);
        if (cc.length) body.cc = cc;
        if (d.files.length) {
          status.textContent = `Uploading ${d.files.length} file(s)…`;
          body.attachments = [];
          for (const file of d.files) body.attachments.push(await upload(this.id, file));
        }
        status.textContent = "Sending…";
        // One key per draft: pressing Send again after a network error or a 5xx cannot send it twice.
        d.requestKey = d.requestKey || newRequestKey("reply");
        await this.ctx.api("POST", `tickets/${this.id}/replies`, {body, idempotencyKey: d.requestKey});
      }
      Object.assign(d, {text: "", cc: "", macro: "", order: "", files: [], requestKey: ""});
      status.textContent = note ? "Note added." : "Reply queued for sending.";
      await this.load();
    } catch (err) {
      // The draft is untouched: nothing the agent wrote is lost.
      status.textContent = `${note ? "Note" : "Reply"} not sent (${err.status || "network"}): ${err.message}. Your text is kept.`;
      if (err instanceof ApiError && err.status === 409) await this.reloadAfterConflict(err, null);
    } finally {
      control.disabled = false;
    }
  }

  // --- properties: status, priority, queue, assignee, tags (PATCH with version) ------------------

  properties() {
    const t = this.ticket;
    const d = this.draft;
    const edit = d.edit || {};
    const value = (name, current) => (name in edit ? edit[name] : current);
    const status = select("status", STATUSES.map((s) => [s, s.replace("_", " ")]), value("status", t.status));
    if (!STATUSES.includes(t.status)) status.prepend(h("option", {value: t.status, selected: !("status" in edit)}, t.status));
    const priority = select("priority", PRIORITIES.map((p) => [p, p]), value("priority", t.priority));
    const queues = h("datalist", {id: "queues"});
    const fillQueues = (names) => clear(queues, [...new Set([t.category, ...names])].filter(Boolean).sort().map((q) => h("option", {value: q})));
    fillQueues(this.ctx.queues || []);
    if (!this.ctx.queues) {
      this.ctx.api("GET", "tickets/counts").then((c) => { this.ctx.queues = Object.keys(c.by_queue || {}); fillQueues(this.ctx.queues); })
        .catch(() => {});
    }
    const category = h("input", {name: "category", list: "queues", value: value("category", t.category), autocomplete: "off"});
    const assignee = h("select", {name: "assignee_id"}, h("option", {value: ""}, "— unassigned —"));
    const currentAssignee = value("assignee_id", t.assignee_id || "");
    if (t.assignee_id) assignee.append(h("option", {value: t.assignee_id, selected: currentAssignee === t.assignee_id}, t.assignee_name || t.assignee_id));
    this.agents().then((agents) => {
      for (const agent of agents) {
        if (agent.id === t.assignee_id) continue;
        assignee.append(h("option", {value: agent.id, selected: agent.id === currentAssignee},
          `${agent.name} (${agent.status}, ${agent.open_count}/${agent.capacity})`));
      }
    });
    const form = h("form", {class: "panel props", "aria-label": "Ticket properties", on: {
      input: () => { d.edit = collect(); },
      submit: async (event) => {
        event.preventDefault();
        const changes = collect();
        if (!Object.keys(changes).length) { this.ctx.notice("Nothing changed."); return; }
        await this.patch(changes, event.submitter || null);
      }}},
    h("h2", {}, "Properties"), field("Status", status), field("Priority", priority), field("Queue", category),
    queues, field("Assignee", assignee),
    h("button", {type: "submit", class: "primary"}, "Save changes"), this.tagEditor());
    const collect = () => {
      const out = {};
      if (status.value !== t.status) out.status = status.value;
      if (priority.value !== t.priority) out.priority = priority.value;
      if (category.value.trim() && category.value.trim() !== t.category) out.category = category.value.trim();
      if (assignee.value !== (t.assignee_id || "")) out.assignee_id = assignee.value || null;
      return out;
    };
    return form;
  }

  tagEditor() {
    const t = this.ticket;
    const input = h("input", {name: "tag", placeholder: "new-tag", autocomplete: "off", pattern: "[a-z0-9][a-z0-9_-]{0,49}"});
    return h("div", {class: "tags"}, h("h3", {}, "Tags"),
      h("ul", {class: "chips"}, (t.tags || []).map((tag) => h("li", {}, tag,
        button("×", () => this.patch({remove_tags: [tag]}), {class: "chip-x", "aria-label": `Remove tag ${tag}`})))),
      h("div", {class: "row"}, field("Add tag", input), button("Add", () => {
        const tag = input.value.trim().toLowerCase();
        if (tag) this.patch({add_tags: [tag]});
      })));
  }

  async patch(changes, control) {
    if (control) control.disabled = true;
    try {
      const result = await this.ctx.api("PATCH", `tickets/${this.id}`, {body: {...changes, version: this.ticket.version}});
      this.draft.edit = null;
      clear(this.conflict); this.conflict.hidden = true;
      const changed = Object.entries(result.changed || {}).map(([k, [a, b]]) => `${k}: ${show(a)} → ${show(b)}`);
      this.ctx.notice(changed.length ? `Saved — ${changed.join("; ")}` : "Saved.");
      await this.load();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        if (!changes.add_tags && !changes.remove_tags) this.draft.edit = changes;
        await this.reloadAfterConflict(err, changes);
      } else {
        this.ctx.notice(`Not saved (${err.status || "network"}): ${err.message}`, "error");
      }
    } finally {
      if (control) control.disabled = false;
    }
  }

  // A 409: show what the other person changed, reload, and keep what this agent wanted to do.
  async reloadAfterConflict(err, mine) {
    const before = this.ticket;
    const seen = new Set((before.audit || []).map((a) => `${a.at}|${a.action}|${a.actor}`));
    await this.load();
    const after = this.ticket;
    const diffs = WATCHED.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
      .map((k) => h("li", {}, `${k.replace("_name", "")}: ${show(before[k])} → ${show(after[k])}`));
    const by = (after.audit || []).filter((a) => !seen.has(`${a.at}|${a.action}|${a.actor}`))
      .map((a) => h("li", {}, `${a.actor_name || a.actor}: ${a.action}${a.detail ? " — " + a.detail : ""} (${ago(a.at)})`));
    const yours = mine ? Object.entries(mine).map(([k, v]) => `${k} → ${show(v)}`).join(", ") : null;
    clear(this.conflict,
      h("h2", {}, "Someone changed this ticket while you were working on it"),
      h("p", {}, err.message),
      diffs.length ? [h("p", {}, "What changed:"), h("ul", {}, diffs)] : h("p", {}, "The ticket was updated (version " + before.version + " → " + after.version + ")."),
      by.length ? [h("p", {}, "By:"), h("ul", {}, by)] : null,
      yours ? h("p", {}, `Your change (${yours}) was not applied. It is still in the form: check it and save again.`)
        : h("p", {}, "Your unsent text is still in the composer."),
      button("Dismiss", () => { this.conflict.hidden = true; }));
    this.conflict.hidden = false;
    this.conflict.scrollIntoView({block: "nearest"});
  }

  async agents() {
    if (!this.ctx.agentList) {
      this.ctx.agentList = this.ctx.api("GET", "agents").then((r) => r.agents || []).catch(() => []);
    }
    return this.ctx.agentList;
  }

  // --- SLA, audit, merge, customer -----------------------------------------------------------------

  slaPanel() {
    const t = this.ticket, sla = t.sla;
    if (!sla) return null;
    const m = (x) => (x ? `${Math.round(x.business)} business min (${Math.round(x.calendar)} calendar)` : "—");
    return h("section", {class: "panel sla-panel"}, h("h2", {}, "SLA"), h("p", {}, slaBadge(t) || "No clock running", " ",
      h("span", {class: "muted"}, `policy ${sla.policy}, ${sla.state}`)),
    h("dl", {}, h("dt", {}, "First response"), h("dd", {}, m(sla.first_response)), h("dt", {}, "Resolution"), h("dd", {}, m(sla.resolution))),
    (sla.breaches || []).length ? h("ul", {class: "breaches"}, sla.breaches.map((b) => h("li", {class: "sla sla-breached"},
      `${b.target.replace(/_/g, " ")} breached by ${Math.round(b.by_minutes)} min${b.running ? " (running)" : ""}`))) : null);
  }

  auditPanel() {
    const entries = (this.ticket.audit || []).slice().reverse();
    return h("details", {class: "panel audit"}, h("summary", {}, h("h2", {}, `Audit trail (${entries.length})`)),
      h("ol", {}, entries.map((a) => h("li", {}, h("time", {datetime: a.at}, when(a.at)), " ", h("strong", {}, a.actor_name || a.actor), ` ${a.action}`,
        a.changes ? h("span", {class: "muted"}, " " + Object.entries(a.changes).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.map(show).join(" → ") : show(v)}`).join("; ")) : null,
        a.detail ? h("div", {class: "muted"}, a.detail) : null))));
  }

  mergePanel() {
    const input = h("input", {name: "into", placeholder: "#123 or t-…", autocomplete: "off"});
    const confirmBox = h("div", {class: "row"});
    const resolve = async () => {
      const v = input.value.trim();
      if (/^t-[0-9a-f]{20}$/.test(v)) return (await this.ctx.api("GET", `tickets/${v}`));
      const n = v.replace(/^#/, "");
      if (!/^\d+$/.test(n)) throw new Error("give a ticket number (#123) or id (t-…)");
      const found = await this.ctx.api("GET", "search", {query: {q: `#${n}`}});
      const hit = (found.tickets || []).find((x) => String(x.number) === n);
      if (!hit) throw new Error(`no ticket #${n}`);
      return hit;
    };
    return h("details", {class: "panel merge"}, h("summary", {}, h("h2", {}, "Merge into another ticket")),
      h("div", {class: "row"}, field("Survivor", input), button("Merge…", async () => {
        try {
          const target = await resolve();
          if (target.id === this.id) throw new Error("that is this ticket");
          clear(confirmBox, h("p", {}, `Close #${this.ticket.number} and continue its conversation on #${target.number} “${target.subject}”?`),
            button(`Merge into #${target.number}`, async () => {
              try {
                await this.ctx.api("POST", `tickets/${this.id}/merge`, {body: {into: target.id}});
                this.ctx.notice(`Merged into #${target.number}.`);
                this.ctx.go(`#ticket/${target.id}`);
              } catch (err) { this.ctx.notice(`Not merged: ${err.message}`, "error"); }
            }, {class: "danger"}));
        } catch (err) { clear(confirmBox, h("p", {class: "error"}, err.message)); }
      })), confirmBox);
  }

  async customer() {
    const t = this.ticket;
    const panel = $(".side .customer", this.ctx.main);
    if (!t.customer_id || !panel) return;
    let c;
    try {
      c = await this.ctx.api("GET", `customers/${t.customer_id}`);
    } catch (err) {
      c = t.customer ? {...t.customer, previous_tickets: t.customer_tickets} : null;
      if (!c) { panel.append(h("p", {class: "muted"}, `Customer unavailable: ${err.message}`)); return; }
    }
    const inquiry = c.last_inquiry;
    clear(panel, h("h2", {}, "Customer"),
      h("p", {}, h("strong", {}, c.name || "(no name)"), c.tier ? h("span", {class: "pill"}, c.tier) : null),
      h("ul", {class: "identities"}, (c.identities || []).map((i) => h("li", {}, i))),
      inquiry ? h("p", {class: "muted"}, "Last inquiry: ", inquiry.ticket_id ? h("a", {href: `#ticket/${inquiry.ticket_id}`}, inquiry.subject || "(no subject)") : inquiry.subject || "",
        ` (${[inquiry.channel, when(inquiry.at)].filter(Boolean).join(", ")})`, inquiry.excerpt ? h("q", {}, inquiry.excerpt) : null) : null,
      (c.purchases || []).length ? h("details", {}, h("summary", {}, `Purchases (${c.purchase_count ?? c.purchases.length})`),
        h("ul", {}, c.purchases.map((p) => h("li", {}, Object.entries(p).filter(([, v]) => typeof v !== "object").map(([k, v]) => `${k}: ${v}`).join(" · "))))) : null,
      h("h3", {}, `Past tickets (${c.ticket_count ?? (c.previous_tickets || []).length})`),
      h("ul", {class: "past"}, (c.previous_tickets || []).filter((p) => p.id !== t.id).map((p) => h("li", {},
        h("a", {href: `#ticket/${p.id}`}, `#${p.number} ${p.subject}`), ` — ${p.status}${p.channel ? ", " + p.channel : ""}, ${ago(p.created_at)}`))));
  }
}

// What the 24/7 chat bot did on the ticket (its messages are in the conversation, marked "Chat bot").
function botNotice(bot) {
  if (!bot) return null;
  const article = bot.article_id ? ` (article ${bot.article_id})` : "";
  if (bot.state === "asked") return h("p", {class: "notice", "data-bot": "asked"}, `The chat bot answered${article} and waits for the customer's yes or no.`);
  if (bot.state === "solved") return h("p", {class: "notice", "data-bot": "solved"}, `Solved by the chat bot${article}: the customer said it helped.`);
  return h("p", {class: "notice warn", "data-bot": "handed_off"}, `The chat bot handed this over${article}: ${bot.reason || "the customer asked"}.`);
}

// What the customer did with the articles they were shown (tracked links), and whether that solved it.
function selfService(t) {
  const shown = t.kb_suggested || [];
  const links = t.kb_links || {};
  const answers = Object.entries(links.answers || {}).map(([article, a]) => `${article}: ${a.answer.replace("_", " ")}`);
  const parts = [];
  if (shown.length) parts.push(`shown ${shown.join(", ")}`);
  if ((links.opened || []).length) parts.push(`opened ${links.opened.join(", ")} ${ago(links.opened_at)}`);
  if (answers.length) parts.push(`answered ${answers.join("; ")}`);
  if (t.deflection) parts.push(`deflected (${t.deflection.how || "confirmed"} via ${t.deflection.via || "?"})`);
  return parts.length ? h("p", {class: "muted", "data-self-service": ""}, `Self-service: ${parts.join(" · ")}`) : null;
}

// The automatic acknowledgement is kept on the ticket, not as a message: shown in its place in time.
function acknowledgement(ack) {
  const sent = ack.status === "sent";
  return h("li", {class: "msg system"}, h("div", {class: "meta"}, h("strong", {}, "Automatic acknowledgement"),
    h("span", {class: "pill"}, ack.status), ack.to ? h("span", {class: "muted"}, `to ${ack.to}`) : null,
    ack.sent_at ? h("time", {datetime: ack.sent_at, title: when(ack.sent_at)}, ago(ack.sent_at)) : null,
    sent ? delivery(ack) : null, ack.reason ? h("span", {class: "muted"}, ack.reason) : null));
}

function delivery(m) {
  const r = m.delivery_report;
  const state = m.delivery || (m.sent_at ? "sent" : "queued");
  const text = r ? `${state}${r.recipient ? " to " + r.recipient : ""} ${ago(r.at)}${r.diagnostic ? " — " + r.diagnostic : ""}` : state;
  return h("span", {class: `pill delivery d-${state}`, title: "Delivery status"}, text);
}

function show(v) {
  if (v === null || v === undefined || v === "") return "none";
  return Array.isArray(v) ? (v.length ? v.join(", ") : "none") : String(v);
}
