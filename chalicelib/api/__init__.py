"""The agent API: authenticated JSON over API Gateway."""
