"""``desk.http``: requests reach ``api_handler`` as API Gateway's HTTP API delivers them when deployed.

``infra/resources.yaml`` puts an HTTP API in front of the app: one route, ``ANY /{proxy+}``, payload format 1.0,
handler ``app.http_api``. Chalice's test client speaks the REST API (it routes before the app does, answers 403
for an unknown path, and makes up CORS preflights), so the suite would test a front door nobody deploys. This
client builds the event the HTTP API sends, after the documented format 1.0 (header names in lower case, the
greedy route's ``proxy`` parameter percent-decoded, a body base64-encoded unless it is text or JSON), and calls
the deployed handler with it, in the function's environment as the test client does.
``LocalDesk(api_gateway="rest")`` keeps Chalice's client, for the stacks that still serve the REST API
(``KeepRestApi``).
"""
from __future__ import annotations

import base64
import functools
import sys
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["HttpApiClient", "HttpApiGateway", "http_api_event"]

#: The caller's address in every event, as Chalice's test client has one (``LambdaEventConverter.LOCAL_SOURCE_IP``);
#: tests set another (``tests/chat.py`` ``from_address``), or None for a front end that sends none.
SOURCE_IP: str | None = "127.0.0.1"
STAGE = "api"  # the HTTP API's stage in infra/resources.yaml: https://<api id>.execute-api.<region>.amazonaws.com/api
_METHODS = frozenset({"get", "post", "put", "patch", "delete", "options", "head"})
#: Bodies the HTTP API hands over as text; any other (a form post, no Content-Type, binary) arrives base64-encoded.
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")


def http_api_event(method: str, path: str, headers: dict[str, str], body: bytes | str | None) -> dict[str, Any]:
    """The payload format 1.0 event of one request to the route ``ANY /{proxy+}`` (``path`` may carry a query)."""
    parts = urlsplit(path)
    query = parse_qs(parts.query, keep_blank_values=True) or None
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers.items():
        multi_headers.setdefault(name.lower(), []).append(str(value))
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    content_type = multi_headers.get("content-type", [""])[-1].lower()
    binary = bool(raw) and not (content_type.startswith(_TEXT_TYPES) and _is_utf8(raw))
    now = time.time()
    proxy = unquote(parts.path[1:])  # the greedy parameter arrives percent-decoded
    return {
        "version": "1.0",
        "resource": "/{proxy+}",
        "path": parts.path,
        "httpMethod": method.upper(),
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query,
        "requestContext": {
            "accountId": "123456789012", "apiId": "localhttpapi", "domainName": "localhost",
            "domainPrefix": "localhost", "extendedRequestId": uuid.uuid4().hex, "httpMethod": method.upper(),
            "identity": {"sourceIp": SOURCE_IP, "userAgent": multi_headers.get("user-agent", [""])[-1]},
            "path": f"/{STAGE}{parts.path}", "protocol": "HTTP/1.1", "requestId": uuid.uuid4().hex,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000), "resourceId": None, "resourcePath": "/{proxy+}", "stage": STAGE,
        },
        "pathParameters": {"proxy": proxy} if proxy else None,
        "stageVariables": None,
        "body": (base64.b64encode(raw).decode("ascii") if binary else raw.decode("utf-8")) if raw else None,
        "isBase64Encoded": binary,
    }


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class HttpApiGateway:
    """``chalice.local.LocalGateway``'s one method, answered as the HTTP API and ``app.http_api`` do.

    ``make local``'s server (``chalicelib/local/serve.py``) and ``desk.http`` both call it.
    """

    def __init__(self, config: Any) -> None:
        scoped = config.scope(config.chalice_stage, "api_handler")  # the stage's memory and timeout
        self.environment: dict[str, str] = dict(scoped.environment_variables)
        self._memory_mb = scoped.lambda_memory_size
        self._timeout_ms = int(scoped.lambda_timeout or 30) * 1000

    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes | str | None) -> Any:
        from chalice.local import LambdaContext

        context = LambdaContext("api_handler", memory_size=self._memory_mb, max_runtime_ms=self._timeout_ms)
        handler = sys.modules["app"].http_api  # the function infra/resources.yaml names: app.http_api
        return handler(http_api_event(method, path, dict(headers), body), context)


class HttpApiClient:
    """``chalice.test.Client().http``'s methods, through ``HttpApiGateway``."""

    def __init__(self, client: Any) -> None:
        self._client = client  # chalice.test.Client on the loaded app: its config and environment patching

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | str | None = b"") -> Any:
        from chalice.test import HTTPResponse

        rest = self._client.http
        gateway = HttpApiGateway(rest._config)
        with rest._patched_env_vars(gateway.environment):
            response = gateway.handle_request(method, path, headers or {}, body)
        return HTTPResponse.create_from_dict(response)

    def __getattr__(self, method: str) -> Any:
        """``get``, ``post``, ``put``, ``patch``, ``delete``, ``options``, ``head``: ``request`` with that method."""
        if method not in _METHODS:
            raise AttributeError(method)
        return functools.partial(self.request, method.upper())
