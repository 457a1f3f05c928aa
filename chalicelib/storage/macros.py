"""The team's own macros (canned responses): one item per macro, a tombstone for a deleted one.

The starter macros come with the deployment (``chalicelib.domain.macros``);
what is stored here overrides them by id. The definition is stored as the
validated macro's JSON; turning it back into a macro is the domain's job.

The API imports the macro service at cold start, so the models (PynamoDB) are
imported inside the functions that use them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.storage.exceptions import ConditionFailed

__all__ = ["StoredMacro", "create_macro", "delete_macro", "get_macro", "replace_macro", "team_macros"]

_KIND = "macro"  # every macro shares one partition: listing them is one Query


@dataclass(frozen=True)
class StoredMacro:
    macro_id: str
    definition: dict[str, Any]
    deleted: bool  # a tombstone: hides the starter macro of the same id


def team_macros() -> list[StoredMacro]:
    """Every macro the team stored, tombstones included, by id."""
    from chalicelib.storage.models import MacroModel

    return [_stored(item) for item in MacroModel.query(_KIND)]


def get_macro(macro_id: str) -> StoredMacro | None:
    """The team's macro (or its tombstone) with this id, or None if the team never stored one."""
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import MacroModel

    try:
        return _stored(MacroModel.get(_KIND, macro_id, consistent_read=True))
    except DoesNotExist:
        return None


def create_macro(macro_id: str, definition: dict[str, Any], *, updated_by: str, at: str) -> None:
    """Store a new macro; ``ConditionFailed`` if a live one has this id (a tombstone's id may be reused)."""
    from pynamodb.exceptions import PutError

    from chalicelib.storage.models import MacroModel

    item = MacroModel(_KIND, macro_id, definition=definition, updated_by=updated_by, updated_at=at, deleted=False)
    try:
        item.save(condition=MacroModel.macro_id.does_not_exist() | (MacroModel.deleted == True))  # noqa: E712
    except PutError as err:
        raise ConditionFailed(f"macro {macro_id} already exists") from err


def replace_macro(macro_id: str, definition: dict[str, Any], *, updated_by: str, at: str) -> None:
    """Store the macro over whatever has its id (last write wins)."""
    from chalicelib.storage.models import MacroModel

    MacroModel(_KIND, macro_id, definition=definition, updated_by=updated_by, updated_at=at,
               deleted=False).save(add_version_condition=False)


def delete_macro(macro_id: str, *, updated_by: str, at: str) -> None:
    """Leave a tombstone: the macro (and a starter macro of the same id) is gone for the team."""
    from chalicelib.storage.models import MacroModel

    MacroModel(_KIND, macro_id, definition={}, updated_by=updated_by, updated_at=at,
               deleted=True).save(add_version_condition=False)


def _stored(item: Any) -> StoredMacro:
    return StoredMacro(item.macro_id, item.definition, bool(item.deleted))

