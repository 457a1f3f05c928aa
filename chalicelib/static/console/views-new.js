// Open a ticket for a phone call or an outbound contact: POST /tickets, then straight to it.
import {newRequestKey} from "./api.js";
import {clear, field, h, select} from "./dom.js";

const CHANNELS = ["phone", "email", "sms", "whatsapp", "webchat"];

export function render(ctx) {
  const by = select("identify", [["email", "Email"], ["phone", "Phone"], ["customer_id", "Customer id"]], "email");
  const who = h("input", {name: "who", required: true, autocomplete: "off"});
  const name = h("input", {name: "name", autocomplete: "off"});
  const kind = select("kind", [["call", "Phone call (record it)"], ["outbound", "Outbound (we contact the customer)"]], "call");
  const channel = select("channel", CHANNELS.map((c) => [c, c]), "phone");
  const queue = h("input", {name: "queue", autocomplete: "off", placeholder: "(by triage)", pattern: "[a-z0-9][a-z0-9_-]{0,49}"});
  // One key per form: a double submit or a retry after a network error opens one ticket, not two.
  const requestId = newRequestKey("console");
  const subject = h("input", {name: "subject", required: true, maxlength: 300});
  const text = h("textarea", {name: "text", rows: 8, required: true});
  const priority = select("priority", [["", "(by triage)"], ["urgent", "urgent"], ["high", "high"], ["normal", "normal"], ["low", "low"]], "");
  const status = h("p", {class: "status", role: "status"});
  const submit = h("button", {type: "submit", class: "primary"}, "Open ticket");
  const form = h("form", {class: "card wide", on: {submit: async (event) => {
    event.preventDefault();
    const customer = {[by.value]: who.value.trim()};
    if (name.value.trim()) customer.name = name.value.trim();
    const body = {customer, kind: kind.value, channel: channel.value, subject: subject.value.trim(), text: text.value};
    if (priority.value) body.priority = priority.value;
    if (queue.value.trim()) body.queue = queue.value.trim();
    body.request_id = requestId;
    submit.disabled = true;
    status.textContent = "Opening…";
    try {
      const made = await ctx.api("POST", "tickets", {body});
      const id = made.id || (made.ticket && made.ticket.id);
      ctx.notice(`Ticket #${made.number ?? made.ticket?.number ?? ""} opened.`);
      ctx.go(`#ticket/${id}`);
    } catch (err) {
      status.textContent = `Not opened (${err.status || "network"}): ${err.message}`;
      submit.disabled = false;
    }
  }}},
  h("fieldset", {}, h("legend", {}, "Customer"), field("Identify by", by), field("Email, phone (+47…) or customer id", who),
    field("Name (optional)", name)),
  field("Kind", kind), field("Channel", channel, "Outbound: where the first message is sent. Call: phone, or where follow-ups go."),
  field("Priority", priority), field("Queue", queue), field("Subject", subject), field("Message or call notes", text), submit, status);
  clear(ctx.main, h("h1", {}, "Open a ticket"), form);
  who.focus();
}
