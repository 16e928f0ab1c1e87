"""Escaping of text that comes from tests and runs (test ids, labels, branch names, measurement
and metric names, notes) for each place it is shown. The one place for it: every renderer uses
these, so a hostile name is harmless everywhere.

Such text is not trusted: parametrize ids are arbitrary strings, and in CI the branch name
comes from ``GITHUB_HEAD_REF``, which the author of a fork's pull request chooses.
"""

from __future__ import annotations

import html
import re

# C0 controls, DEL and C1 controls: escape sequences, carriage returns, backspaces and bells
# that would repaint or hide what a terminal shows. Bidirectional overrides and isolates reorder
# what follows them on screen and in browsers ("Trojan Source"), line and paragraph separators
# break lines in some viewers, and lone surrogates (undecodable bytes of an environment variable
# or argument) cannot be written as UTF-8 at all.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
# Any ASCII punctuation may be backslash-escaped in CommonMark; these start code spans, links
# and images, table cells, headings, strikethrough, math and emphasis. "_" is left alone: GitHub
# never emphasises inside a word, and test ids are full of it.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]|~$#!])")


def terminal_text(text: str) -> str:
    """Control characters shown as visible escapes (``\\x1b``, ``\\n``), never interpreted."""
    return _CONTROL.sub(lambda match: repr(match.group(0))[1:-1], text)


def html_text(text: str) -> str:
    """Text for HTML element content and quoted attribute values; control characters visible
    (they are not allowed in the XML of the inline SVG charts)."""
    return html.escape(terminal_text(text), quote=True)


def markdown_text(text: str) -> str:
    """Text for a GitHub-flavoured Markdown paragraph or table cell: one line, no markup.

    Line breaks and other controls become visible escapes (a newline would end a table row or
    start a heading), HTML is entity-escaped (GitHub renders raw HTML in Markdown), and the
    punctuation that starts markup is backslash-escaped (images, links, code spans, ``|``).
    """
    one_line = terminal_text(text)
    entities = one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", entities)
