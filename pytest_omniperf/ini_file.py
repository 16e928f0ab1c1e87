"""The ``omniperf_*`` keys of the project's pytest configuration file, for the ``omniperf``
command, which runs outside pytest but must resolve settings as a pytest run in the same project
would (pure: imports no pytest; iniconfig is a dependency of pytest).

The file is found as pytest finds it: from the working directory upward, the first of
``pytest.ini``, ``.pytest.ini``, ``pyproject.toml`` with ``[tool.pytest.ini_options]``,
``tox.ini`` with ``[pytest]`` and ``setup.cfg`` with ``[tool:pytest]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import iniconfig

PREFIX = "omniperf_"


class IniFileError(ValueError):
    """The configuration file cannot be read; the message names it."""


@dataclass(frozen=True)
class IniFile:
    """The configuration file found (None: none) and its ``omniperf_*`` values by key."""

    path: Path | None
    values: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """Where relative paths of the settings start: the file's folder, as pytest's rootdir."""
        return self.path.parent if self.path else Path.cwd()

    def get(self, key: str) -> str | None:
        return self.values.get(key)


def find_ini_file(start: Path | None = None) -> IniFile:
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
            path = candidate / name
            if path.is_file():
                values = _read(path)
                if values is not None:
                    return IniFile(path, values)
    return IniFile(None)


def _read(path: Path) -> dict[str, str] | None:
    """The omniperf values of ``path``, or None when it is no pytest configuration file."""
    try:
        if path.name == "pyproject.toml":
            import tomllib

            with path.open("rb") as handle:
                options = tomllib.load(handle).get("tool", {}).get("pytest", {})
            if "ini_options" not in options:
                return None
            items = dict(options["ini_options"])
        else:
            section = {"tox.ini": "pytest", "setup.cfg": "tool:pytest"}.get(path.name, "pytest")
            config = iniconfig.IniConfig(str(path))
            if section not in config:
                return {} if path.name in ("pytest.ini", ".pytest.ini") else None
            items = dict(config[section].items())
    except (OSError, ValueError, iniconfig.ParseError) as error:
        raise IniFileError(f"{path}: {error}") from None
    return {
        key.removeprefix(PREFIX): str(value)
        for key, value in items.items()
        if key.startswith(PREFIX)
    }
