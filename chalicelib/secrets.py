"""Platform secrets by the names the platforms' own tooling uses (``SLACK_SIGNING_SECRET``, ...).

Locally and in tests they come from environment variables. In AWS, set
``SECRETS_SSM_PREFIX`` (e.g. ``/relay-desk/dev/``) and store each secret as an
SSM SecureString under that prefix; Powertools Parameters fetches and caches it
for five minutes, so a warm webhook spends no AWS call on it.
"""
from __future__ import annotations

import os

_CACHE_SECONDS = 300


def get(name: str) -> str | None:
    value = os.environ.get(name)
    if value:
        return value
    prefix = os.environ.get("SECRETS_SSM_PREFIX")
    if not prefix:
        return None
    from aws_lambda_powertools.utilities import parameters

    try:
        return parameters.get_parameter(prefix + name, decrypt=True, max_age=_CACHE_SECONDS)
    except parameters.exceptions.GetParameterError:
        return None


def reset() -> None:
    """Forget cached SSM values and clients (LocalDesk, between desks)."""
    import sys

    if "aws_lambda_powertools.utilities.parameters" in sys.modules:
        from aws_lambda_powertools.utilities import parameters
        from aws_lambda_powertools.utilities.parameters import base

        parameters.clear_caches()
        base.DEFAULT_PROVIDERS.clear()  # its SSM client may point at the previous desk's endpoint
