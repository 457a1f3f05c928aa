"""Relay Desk: every customer message becomes a ticket, answered at once.

Layers, top-down: ``channels`` (verify, parse, normalise) → ``pipeline``
(thread or create, triage, acknowledge, measure) → ``storage`` (PynamoDB) and
``outbound`` (senders). ``local`` is the offline test harness (LocalDesk).
"""
