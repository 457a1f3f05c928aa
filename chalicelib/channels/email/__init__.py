"""The email channel: SES receipt rule in, parsed and normalised to InboundMessage."""
