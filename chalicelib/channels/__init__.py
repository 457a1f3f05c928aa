"""Channel adapters: each one verifies, parses and normalises to ``InboundMessage``."""
from chalicelib.channels.inbound import AttachmentRef, Identity, InboundMessage

__all__ = ["AttachmentRef", "Identity", "InboundMessage"]
