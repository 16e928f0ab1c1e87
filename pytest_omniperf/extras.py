"""Optional dependencies: which feature needs which extra, and the one line that says so.

The plain install holds what every run needs (pytest, pluggy, numpy; the history is the
standard library's sqlite3). Reports, asyncio support and the client integrations are extras
(see pyproject.toml); a feature whose extra is missing is refused with :class:`MissingExtra`
before it starts, never a traceback from deep inside it.
"""

from __future__ import annotations

import importlib.util

PACKAGE = "pytest-omniperf"


class MissingExtra(ModuleNotFoundError):
    """A feature was asked for whose optional dependency is not installed."""


def missing_extra_message(feature: str, module: str, extra: str) -> str:
    return f"{feature} needs {module}: pip install '{PACKAGE}[{extra}]'"


def require(feature: str, module: str, extra: str) -> None:
    """Raise :class:`MissingExtra` naming ``extra`` when ``module`` cannot be imported.

    Looks the module up without importing it, so a check at configure time costs nothing.
    """
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(missing_extra_message(feature, module, extra), name=module)
