// DOM helpers: every piece of data enters the page as text or as an attribute value, never as markup.

// h("a", {href: "#x", class: "btn"}, "text", child, [more]) → element. Handlers: {on: {click: fn}}.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "on") {
      for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    } else if (name.startsWith("on")) {
      throw new Error("handlers go in {on: {...}}, not as attributes: " + name);
    } else if (name === "class") {
      el.className = value;
    } else if (name in PROPS) {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

// Set as properties (live state) rather than attributes.
const PROPS = {value: 1, checked: 1, selected: 1, disabled: 1, srcdoc: 1, hidden: 1};

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// A labelled control: <label>Text <input ...></label>; every control gets a label.
export function field(label, control, hint) {
  return h("label", {class: "field"}, h("span", {class: "label"}, label), control,
    hint ? h("small", {class: "hint"}, hint) : null);
}

export function select(name, options, current, attrs = {}) {
  return h("select", {name, ...attrs},
    options.map(([value, text]) => h("option", {value, selected: value === current}, text)));
}

export function button(text, onClick, attrs = {}) {
  return h("button", {type: "button", ...attrs, on: {click: onClick}}, text);
}

// "3 h 12 min" from minutes; negative: overdue.
export function duration(minutes) {
  const m = Math.abs(Math.round(minutes));
  if (m < 60) return `${m} min`;
  if (m < 48 * 60) return `${Math.floor(m / 60)} h ${m % 60} min`;
  return `${Math.floor(m / 1440)} d ${Math.floor((m % 1440) / 60)} h`;
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
}

export function ago(iso) {
  if (!iso) return "";
  const minutes = (Date.now() - new Date(iso).getTime()) / 60000;
  return minutes < 1 ? "just now" : `${duration(minutes)} ago`;
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1048576).toFixed(1)} MB`;
}

// The SLA clock of a ticket summary: {text, state: "ok"|"warn"|"breached"|"paused"|"none", due}.
export function slaClock(ticket, now = Date.now()) {
  const sla = ticket.sla || {};
  const due = ticket.sla_due_at || sla.due_at;
  const breached = ticket.sla_breached ?? (sla.breaches || []).some((b) => b.running);
  if (!due) {
    if (breached) return {text: "SLA breached", state: "breached", due: null};
    if (sla.state === "paused") return {text: "SLA paused", state: "paused", due: null};
    return {text: "", state: "none", due: null};
  }
  const left = (new Date(due).getTime() - now) / 60000;
  const target = (ticket.sla_target || sla.due_target || "").replace(/_/g, " ");
  if (left < 0) return {text: `${duration(left)} overdue${target ? " (" + target + ")" : ""}`, state: "breached", due};
  const warning = sla.warning_at && new Date(sla.warning_at).getTime() <= now;
  return {text: `${duration(left)} left${target ? " (" + target + ")" : ""}`, state: warning || left < 60 ? "warn" : "ok", due};
}

export function slaBadge(ticket) {
  const clock = slaClock(ticket);
  if (clock.state === "none") return null;
  const el = h("span", {class: `sla sla-${clock.state}`, "data-sla": JSON.stringify({
    sla_due_at: ticket.sla_due_at || (ticket.sla || {}).due_at || null, sla_breached: ticket.sla_breached,
    sla: {due_target: (ticket.sla || {}).due_target, warning_at: (ticket.sla || {}).warning_at,
      state: (ticket.sla || {}).state, breaches: (ticket.sla || {}).breaches}})}, clock.text);
  return el;
}

// Every 30 s: recompute every visible SLA clock from the data it was drawn with.
export function tickClocks(root = document) {
  for (const el of root.querySelectorAll("[data-sla]")) {
    const clock = slaClock(JSON.parse(el.dataset.sla));
    el.textContent = clock.text;
    el.className = `sla sla-${clock.state}`;
  }
}
