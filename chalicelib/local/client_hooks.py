"""Hooking every botocore client: boto3's and PynamoDB's, those already made and those made from now on.

The fault injector (``faults.py``) and the call counter of the benchmarks (``benchmarks/budget.py``) both
register event handlers on every client the app uses; clients are cached per container, so the ones
that exist are found once (``gc``) and new ones are hooked as ``ClientCreator.create_client`` returns them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["hook_every_client"]


def hook_every_client(register: Callable[[Any], None], *,
                      skip: Callable[[], bool] = lambda: False) -> Callable[[], None]:
    """Call ``register(client)`` for every botocore client, now and for each one made later (unless ``skip()``
    says not to, e.g. while a harness makes its own); returns the function that stops hooking new ones."""
    import gc

    import botocore.client

    original = botocore.client.ClientCreator.create_client

    def create_client(creator: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(creator, *args, **kwargs)
        if not skip():
            register(client)
        return client

    botocore.client.ClientCreator.create_client = create_client
    for obj in gc.get_objects():
        if isinstance(obj, botocore.client.BaseClient):
            register(obj)

    def restore() -> None:
        botocore.client.ClientCreator.create_client = original

    return restore
