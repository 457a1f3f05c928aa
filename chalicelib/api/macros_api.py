"""Canned responses over HTTP: any agent lists and reads; admins create, replace and delete."""
from __future__ import annotations

import re
from typing import Any

from chalicelib.api.auth import authenticate, require_role
from chalicelib.api.errors import BadRequest, Conflict, Created, NotFound, api_endpoint

_MACRO_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_MAX_BODY_BYTES = 64 * 1024


def view(macro: Any, *, starter: bool) -> dict[str, Any]:
    return {**macro.model_dump(mode="json"), "starter": starter}


@api_endpoint
def collection(request: Any) -> Any:
    from chalicelib.service import changes, macros

    caller = authenticate(request.headers)
    if request.method == "GET":
        queue = (request.query_params or {}).get("queue")
        found = macros.all_macros()
        if queue is not None:
            from chalicelib.domain.macros import suggested

            found = list(suggested(found, queue))
        return {"macros": [view(m, starter=macros.is_starter(m.id)) for m in found]}
    require_role(caller, "admin")
    macro = _macro(request)
    try:
        macros.save(macro, changes.Actor.of_agent(caller), create=True)
    except FileExistsError:
        raise Conflict(f"macro {macro.id!r} exists; PUT /macros/{macro.id} replaces it") from None
    return Created(view(macro, starter=False))


@api_endpoint
def item(request: Any, macro_id: str) -> Any:
    from chalicelib.service import changes, macros

    caller = authenticate(request.headers)
    if not _MACRO_ID.match(macro_id or ""):
        raise NotFound(f"no macro {macro_id!r}")
    if request.method == "GET":
        try:
            return view(macros.get(macro_id), starter=macros.is_starter(macro_id))
        except macros.MacroNotFound:
            raise NotFound(f"no macro {macro_id!r}") from None
    require_role(caller, "admin")
    if request.method == "DELETE":
        try:
            macros.delete(macro_id, changes.Actor.of_agent(caller))
        except macros.MacroNotFound:
            raise NotFound(f"no macro {macro_id!r}") from None
        return {"deleted": macro_id}
    macro = _macro(request)
    if macro.id != macro_id:
        raise BadRequest(f"body id {macro.id!r} does not match the URL's {macro_id!r}")
    macros.save(macro, changes.Actor.of_agent(caller), create=False)
    return view(macro, starter=False)


def _macro(request: Any) -> Any:
    """The body as a Macro: template parsed, placeholders checked, sandbox escapes refused — or a 400."""
    from chalicelib.domain.macros import MacroError, macro_from_dict

    from chalicelib.api.requests import read_object

    try:
        return macro_from_dict(read_object(request, _MAX_BODY_BYTES), source="macro")
    except MacroError as err:
        raise BadRequest("; ".join(err.problems)) from None
