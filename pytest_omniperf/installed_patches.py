"""What the plugin has patched into asyncio right now, so a safety net can take it all out.

Every patch (a loop's selector, its ``time``, ``Handle._run``, a measurement's patches of
``asyncio.gather`` and the mode) is undone by a ``finally`` block of the code that made it. A
timeout that fires inside a measured body (pytest-timeout's signal method raises in whatever frame
runs, and a session-scoped loop keeps the interrupted task suspended) can skip those blocks for a
long time. So each patch also registers its undo here, and the perf hooks' teardown calls
:func:`uninstall_everything`. Undo functions must be safe to call twice.
"""

from __future__ import annotations

from collections.abc import Callable

_undo_by_owner: dict[int, tuple[object, Callable[[], None]]] = {}


def register(owner: object, undo: Callable[[], None]) -> None:
    """Remember how to undo what ``owner`` installed (until :func:`unregister`)."""
    _undo_by_owner[id(owner)] = (owner, undo)


def unregister(owner: object) -> None:
    _undo_by_owner.pop(id(owner), None)


def still_installed() -> int:
    return len(_undo_by_owner)


def uninstall_everything() -> int:
    """Undo every registered patch, newest first; returns how many were still installed."""
    count = 0
    while _undo_by_owner:
        _key, (_owner, undo) = _undo_by_owner.popitem()
        undo()
        count += 1
    return count
