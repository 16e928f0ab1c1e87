"""What the plugin has patched into asyncio right now, so a safety net can take it all out.

Every patch (a loop's selector, its ``time``, ``Handle._run``, a measurement's patches of
``asyncio.gather`` and the mode) is undone by a ``finally`` block of the code that made it. A
timeout that fires inside a measured body (pytest-timeout's signal method raises in whatever frame
runs, and a session-scoped loop keeps the interrupted task suspended) can skip those blocks for a
long time. So each patch also registers its undo here, and the perf hooks' teardown undoes what
the test installed and left in place.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_sequence = itertools.count(1)
# owner id -> (registration number, owner kept alive, undo)
_undo_by_owner: dict[int, tuple[int, object, Callable[[], None]]] = {}


def register(owner: object, undo: Callable[[], None]) -> None:
    """Remember how to undo what ``owner`` installed (until :func:`unregister`).
    ``undo`` must be safe to call twice: the owner's own ``finally`` may still run later."""
    _undo_by_owner[id(owner)] = (next(_sequence), owner, undo)


def unregister(owner: object) -> None:
    _undo_by_owner.pop(id(owner), None)


def checkpoint() -> int:
    """A mark: :func:`uninstall_since` undoes only what was registered after it."""
    return next(_sequence)


def uninstall_since(mark: int = 0) -> int:
    """Undo every patch registered after ``mark`` (default: all), newest first; returns how
    many were still installed. Patches made earlier (a user's session-wide virtual clock) stay."""
    newer = sorted(
        (entry for entry in _undo_by_owner.items() if entry[1][0] > mark),
        key=lambda entry: entry[1][0],
        reverse=True,
    )
    for key, (_number, _owner, undo) in newer:
        _undo_by_owner.pop(key, None)
        undo()
    return len(newer)


def reset_context_var(variable: contextvars.ContextVar[T], token: contextvars.Token[T]) -> None:
    """``variable.reset(token)``, also when the safety net undoes a patch from another context
    than the one that set it: that context belongs to an interrupted task, and what it holds no
    longer matters."""
    with contextlib.suppress(ValueError):  # "<Token> was created in a different Context"
        variable.reset(token)
