"""Outbound: rendering and sending what the desk says to customers."""
