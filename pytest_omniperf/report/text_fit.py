"""Fitting summary text into a terminal's width: no line longer than the width, nothing lost but
the start of a name that is too long (and that cut is visible)."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence

MIN_WIDTH = 80
"""Narrower terminals get 80 columns anyway: below that the figures of one measurement no longer
fit a line, and a summary that wraps them apart is harder to read than one that overflows."""
CUT = "…"


def summary_width(columns: int | None = None) -> int:
    """``columns`` (pytest's terminal writer knows them), else ``COLUMNS`` or the terminal's
    size, at least :data:`MIN_WIDTH`."""
    if columns is None:
        columns = shutil.get_terminal_size().columns  # reads COLUMNS first
    return max(MIN_WIDTH, columns)


def shorten_left(text: str, width: int) -> str:
    """The end of ``text`` in at most ``width`` characters, the cut shown by a leading ``…``.

    A test id says most at its end (``…/test_rag.py::test_parallel_queries[large]``), so its
    start goes; the cut falls after a folder when that keeps the file's name whole.
    """
    if len(text) <= width:
        return text
    if width <= len(CUT):
        return CUT[:width]
    tail = text[len(text) - (width - len(CUT)) :]
    slash, test_start = tail.find("/"), tail.find("::")
    if slash > 0 and (test_start == -1 or slash < test_start):
        tail = tail[slash:]
    return CUT + tail


def wrapped(text: str, width: int, indent: str = "  ") -> list[str]:
    """``text`` in lines of at most ``width``, continuation lines indented; a word longer than a
    line (a path) is broken, never cut."""
    return textwrap.wrap(
        text,
        width,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
        replace_whitespace=False,
        drop_whitespace=True,
    ) or [""]


def fitted_fields(
    fields: Sequence[str], width: int, indent: str, separator: str = "   "
) -> list[str]:
    """Fields side by side, as many on a line as fit, each line starting with ``indent``; a
    field wider than a line is wrapped on its own."""
    lines: list[str] = []
    line = ""
    for field in fields:
        candidate = f"{line}{separator}{field}" if line else f"{indent}{field}"
        if len(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        if len(indent) + len(field) <= width:
            line = f"{indent}{field}"
        else:
            *full, line = wrapped(field, width - len(indent), indent="  ")
            lines += [indent + part for part in full]
            line = indent + line
    if line:
        lines.append(line)
    return lines
