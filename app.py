"""Relay Desk's entry points: one decorator per trigger, one call per body.

Read this file as the table of contents. Everything of substance lives in
``chalicelib``: channel adapters verify and normalise, the pipeline threads,
triages and acknowledges, storage and outbound live at the edges.
"""
from chalice import Chalice, ConvertToMiddleware

from chalicelib import api, channels, config, outbound, pipeline
from chalicelib.observability import logger

app = Chalice(app_name="relay-desk")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))


# --- Email: SES receipt rule (S3 action, then this Lambda action) -----------
@app.lambda_function(name="ses_inbound")
def ses_inbound(event, context):
    return channels.email.ses_inbound.handle(event)


# What ses_inbound failed on after Lambda's retries: handed over again at once (a mail
# stored once, the rest parked with its reason in the inbound dead-letter queue).
@app.on_sqs_message(queue=config.setting("SES_FAILURE_QUEUE"), batch_size=1, name="ses_failures")
def ses_inbound_failures(event):
    return channels.email.ses_failures.process_batch(event.to_dict(), event.context)


# --- The pipeline: every channel's messages, in order per conversation ------
@app.on_sqs_message(queue=config.setting("INBOUND_QUEUE"), batch_size=10, name="process_inbound")
def process_inbound(event):
    return pipeline.worker.process_batch(event.to_dict(), event.context)


# --- Replies out: every chat reply through the ticket's channel --------------
@app.on_sqs_message(queue=config.setting("OUTBOUND_QUEUE"), batch_size=10, name="send_outbound")
def send_outbound(event):
    return outbound.worker.process_batch(event.to_dict(), event.context)


# --- Delivery status: SES sending events (configuration set → SNS) -------------
@app.on_sns_message(topic="relay-desk-ses-events", name="ses_events")
def ses_events(event):
    return outbound.delivery_events.handle(event.to_dict())


# --- After a ticket change is stored: the inbox counts, a freed agent's next ticket (within ~30 s) --
@app.on_dynamodb_record(stream_arn=config.setting("TICKETS_STREAM_ARN"), batch_size=1000,
                        starting_position="TRIM_HORIZON", name="ticket_stream")
def ticket_stream(event):
    return pipeline.stream.process_batch(event.to_dict(), event.context)


# --- ... and, from the same stream, the KPI aggregates and metrics (up to 5 minutes of changes a batch) --
# LATEST: a new stack has no change before it; on the update that adds it, the last 24 hours were counted.
@app.on_dynamodb_record(stream_arn=config.setting("TICKETS_STREAM_ARN"), batch_size=10000,
                        starting_position="LATEST", name="kpi_stream", maximum_batching_window_in_seconds=300)
def kpi_stream(event):
    return pipeline.measure_stream.measure_batch(event.to_dict(), event.context)


# --- API Gateway's HTTP API: every path arrives here (infra/resources.yaml), routed to the views below ---
def http_api(event, context):
    return api.http_api.handle(app, event, context)


# --- Chat webhooks (API Gateway): authenticate, parse, enqueue, answer fast ---
_WEBHOOK_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain"]


@app.route("/webhooks/slack", methods=["POST"], content_types=_WEBHOOK_TYPES)
def slack_webhook():
    return channels.receive.receive("slack", app.current_request)


@app.route("/webhooks/whatsapp", methods=["GET", "POST"], content_types=_WEBHOOK_TYPES)
def whatsapp_webhook():
    return channels.receive.receive("whatsapp", app.current_request)


@app.route("/webhooks/messenger", methods=["GET", "POST"], content_types=_WEBHOOK_TYPES)
def messenger_webhook():
    return channels.receive.receive("messenger", app.current_request)


@app.route("/webhooks/telegram", methods=["POST"], content_types=_WEBHOOK_TYPES)
def telegram_webhook():
    return channels.receive.receive("telegram", app.current_request)


@app.route("/webhooks/twilio", methods=["POST"], content_types=_WEBHOOK_TYPES)
def twilio_webhook():
    return channels.receive.receive("twilio", app.current_request)


# --- Web chat: the widget on customers' sites (CORS allow-list, preflights answered here) ---
@app.route("/webhooks/webchat", methods=["POST", "OPTIONS"], content_types=_WEBHOOK_TYPES)
def webchat_webhook():
    return channels.webchat_visitor.post_message(app.current_request)


@app.route("/webchat/sessions", methods=["POST", "OPTIONS"], content_types=_WEBHOOK_TYPES)
def webchat_sessions():
    return channels.webchat_visitor.open_session(app.current_request)


@app.route("/webchat/sessions/{session_id}/messages", methods=["GET", "OPTIONS"])
def webchat_messages(session_id):
    return channels.webchat_visitor.messages(app.current_request, session_id)


@app.route("/webchat/sessions/{session_id}/uploads", methods=["POST", "OPTIONS"])
def webchat_upload(session_id):
    return channels.webchat_visitor.upload(app.current_request, session_id)


@app.route("/webchat/status", methods=["GET", "OPTIONS"])
def webchat_status():
    return channels.webchat_visitor.status(app.current_request)


# --- Agent API: tickets ---------------------------------------------------------
@app.route("/tickets", methods=["GET"])
def list_tickets():
    return api.agent_api.list_tickets(app.current_request)


@app.route("/tickets/{ticket_id}", methods=["GET"])
def get_ticket(ticket_id):
    return api.agent_api.get_ticket(app.current_request, ticket_id)


@app.route("/tickets/{ticket_id}", methods=["PATCH"])
def update_ticket(ticket_id):
    return api.ticket_api.update_ticket(app.current_request, ticket_id)


@app.route("/tickets/{ticket_id}/replies", methods=["POST"])
def reply_to_ticket(ticket_id):
    return api.ticket_api.reply(app.current_request, ticket_id)


@app.route("/tickets/{ticket_id}/notes", methods=["POST"])
def add_note(ticket_id):
    return api.ticket_api.add_note(app.current_request, ticket_id)


@app.route("/tickets/{ticket_id}/attachments/{attachment_id}", methods=["GET"])
def download_attachment(ticket_id, attachment_id):
    return api.attachments_api.download(app.current_request, ticket_id, attachment_id)


@app.route("/tickets/{ticket_id}/uploads", methods=["POST"])
def upload_attachment(ticket_id):
    return api.attachments_api.upload(app.current_request, ticket_id)


@app.route("/tickets/{ticket_id}/merge", methods=["POST"])
def merge_ticket(ticket_id):
    return api.ticket_api.merge(app.current_request, ticket_id)


# --- Agent API: find, counts, open a ticket (static /tickets/counts wins over /tickets/{ticket_id}) ---
@app.route("/search", methods=["GET"])
def search():
    return api.search_api.search(app.current_request)


@app.route("/tickets/counts", methods=["GET"])
def ticket_counts():
    return api.inbox_api.counts(app.current_request)


@app.route("/tickets", methods=["POST"])
def open_ticket():
    return api.ticket_open_api.open_ticket(app.current_request)


# --- Agent API: agents, customers, macros --------------------------------------
@app.route("/agents", methods=["GET", "POST"])
def agents():
    return api.agents_api.collection(app.current_request)


@app.route("/agents/{agent_id}", methods=["GET", "PATCH", "DELETE"])
def agent(agent_id):
    return api.agents_api.item(app.current_request, agent_id)


@app.route("/customers/import", methods=["POST"])
def import_customers():
    return api.customers_api.import_customers(app.current_request)


@app.route("/customers/{customer_id}", methods=["GET", "PATCH"])
def customer(customer_id):
    return api.customers_api.item(app.current_request, customer_id)


@app.route("/customers/{customer_id}/merge", methods=["POST"])
def merge_customer(customer_id):
    return api.customers_api.merge(app.current_request, customer_id)


@app.route("/macros", methods=["GET", "POST"])
def macros():
    return api.macros_api.collection(app.current_request)


@app.route("/macros/{macro_id}", methods=["GET", "PUT", "DELETE"])
def macro(macro_id):
    return api.macros_api.item(app.current_request, macro_id)


# --- Knowledge base: published articles are public; drafts and edits need an agent token ---
@app.route("/kb/articles", methods=["GET"])
def kb_articles():
    return api.kb_api.articles(app.current_request)


@app.route("/kb/articles/{article_id}", methods=["GET", "PUT", "DELETE"])
def kb_article(article_id):
    return api.kb_api.article(app.current_request, article_id)


@app.route("/kb/search", methods=["GET"])
def kb_search():
    return api.kb_api.search(app.current_request)


@app.route("/kb/suggest", methods=["GET"])
def kb_suggest():
    return api.kb_api.suggest(app.current_request)


# --- Public: tracked article links (signed; a GET only redirects, the portal page POSTs what the customer did) ---
@app.route("/kb/go/{link}", methods=["GET", "POST"])
def kb_link(link):
    return api.kb_links_api.respond(app.current_request, link)


# --- Public: satisfaction surveys (signed, expiring links; no agent token) -------
@app.route("/surveys/{token}", methods=["GET", "POST"], content_types=["application/json",
                                                                      "application/x-www-form-urlencoded"])
def survey(token):
    return api.surveys_api.respond(app.current_request, token)


# --- Console sign-in: a one-time link by email, then a session token (rds_...) ---
@app.route("/auth/links", methods=["POST"])
def ask_for_signin_link():
    return api.signin_api.request_link(app.current_request)


@app.route("/auth/sessions", methods=["POST"])
def open_console_session():
    return api.signin_api.sign_in(app.current_request)


@app.route("/auth/sessions/current", methods=["DELETE"])
def close_console_session():
    return api.signin_api.sign_out(app.current_request)


@app.route("/auth/me", methods=["GET"])
def who_am_i():
    return api.signin_api.me(app.current_request)


# --- Admin: reports --------------------------------------------------------------
@app.route("/reports/kpis", methods=["GET"])
def kpi_report():
    return api.reports_api.kpis(app.current_request)


# --- The faces: the agents' console and the chat widget (static files, CSP) ------
@app.route("/console", methods=["GET"])
def console_page():
    return api.static.console(app.current_request)


@app.route("/console/{name}", methods=["GET"])
def console_file(name):
    return api.static.console(app.current_request, name)


# --- The customer portal: the knowledge base, a ticket form, one's own tickets after a mailed link ---
@app.route("/portal", methods=["GET"])
def portal_page():
    return api.static.portal(app.current_request)


@app.route("/portal/{name}", methods=["GET"])
def portal_file(name):
    return api.static.portal(app.current_request, name)


@app.route("/portal/tickets", methods=["GET", "POST"])
def portal_tickets():
    return api.portal_api.tickets(app.current_request)


@app.route("/portal/tickets/{ticket_id}", methods=["GET"])
def portal_ticket(ticket_id):
    return api.portal_api.ticket(app.current_request, ticket_id)


@app.route("/portal/tickets/{ticket_id}/replies", methods=["POST"])
def portal_reply(ticket_id):
    return api.portal_api.reply(app.current_request, ticket_id)


@app.route("/portal/uploads", methods=["POST"])
def portal_upload():
    return api.portal_api.upload(app.current_request)


@app.route("/portal/auth/links", methods=["POST"])
def portal_signin_link():
    return api.portal_api.auth_link(app.current_request)


@app.route("/portal/auth/sessions", methods=["POST"])
def portal_session():
    return api.portal_api.auth_session(app.current_request)


@app.route("/portal/auth/sessions/current", methods=["DELETE"])
def close_portal_session():
    return api.portal_api.sign_out(app.current_request)


@app.route("/widget.js", methods=["GET"])
def widget_script():
    return api.static.widget(app.current_request)


@app.route("/survey.css", methods=["GET"])
def survey_stylesheet():
    return api.static.survey_stylesheet(app.current_request)


@app.route("/openapi.json", methods=["GET"])
def openapi_document():
    return api.openapi.document(app.current_request)


# --- Schedules (EventBridge) ----------------------------------------------------
@app.schedule("rate(1 minute)", name="sweep")
def sweep(event):
    return pipeline.schedule.tick(event.to_dict())
