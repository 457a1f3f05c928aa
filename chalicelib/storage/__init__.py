"""Storage at the edge: PynamoDB models for every table, S3 for large content, the SQS queues.

This is the only package that imports PynamoDB; ``models`` is its private detail.
Callers use functions named for what they read and write, and get storage's own
exceptions (``exceptions``) back, never PynamoDB's:

* ``repository`` — the pipeline's batched reads and transactional writes
* ``tickets`` — the agents' views (by index), a ticket's messages and audit trail, a customer's tickets
* ``customers`` — customers and the identity lookups that lead to them: import, edit, merge
* ``agents`` — the agent directory: create, change, remove, list
* ``macros`` — the team's macros; ``surveys`` — an answer recorded once
* ``aggregates`` — daily KPI counters; ``queues``, ``blobs``, ``rate_limits``
* ``conversations`` — a chat conversation's tickets and their messages, as the web-chat visitor reads them
* ``kb_articles`` — knowledge base articles; ``kb_index`` — the KB search index (S3 bytes, a marker,
  the copy a function keeps open); ``kb_engine`` — the index itself (tantivy), loaded only by KB searches

Submodules are imported by name (``from chalicelib.storage import customers``):
importing the package itself costs nothing at cold start.
"""
