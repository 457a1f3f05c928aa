"""LocalDesk: the whole desk offline, against moto, for your own tests and the demo.

Never imported by Lambda code: moto is imported only when a LocalDesk starts.
"""
from chalicelib.local.desk import LocalDesk

__all__ = ["LocalDesk"]
