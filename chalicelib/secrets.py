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
