"""The pipeline: one inbound message → thread or create → acknowledge → measure (``runner.run``), and the
queue and stream edges around it. Import the module you need: the package itself imports nothing, so a
function that loads one edge (``measure_stream``) does not load the others.
"""
