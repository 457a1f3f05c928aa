"""Relay Desk's entry points: one decorator per trigger, one call per body.

Read this file as the table of contents. Everything of substance lives in
``chalicelib``: channel adapters verify and normalise, the pipeline threads,
triages and acknowledges, storage and outbound live at the edges.
"""
from chalice import Chalice, ConvertToMiddleware

from chalicelib import config
from chalicelib.api import agent_api
from chalicelib.channels.email import ses_inbound as ses_adapter
from chalicelib.observability import logger
from chalicelib.pipeline import worker

app = Chalice(app_name="relay-desk")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))


# --- Email: SES receipt rule (S3 action, then this Lambda action) -----------
@app.lambda_function(name="ses_inbound")
def ses_inbound(event, context):
    return ses_adapter.handle(event)


# --- The pipeline: every channel's messages, in order per conversation ------
@app.on_sqs_message(queue=config.setting("INBOUND_QUEUE"), batch_size=10, name="process_inbound")
def process_inbound(event):
    return worker.process_batch(event.to_dict(), event.context)


# --- Agent API ---------------------------------------------------------------
@app.route("/tickets", methods=["GET"])
def list_tickets():
    return agent_api.list_tickets(app.current_request)


@app.route("/tickets/{ticket_id}", methods=["GET"])
def get_ticket(ticket_id):
    return agent_api.get_ticket(app.current_request, ticket_id)
