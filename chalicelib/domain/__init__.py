"""Domain rules in plain Python (no boto3): ids, threading, acknowledgement policy."""
