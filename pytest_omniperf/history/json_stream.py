"""An incremental reader of one large JSON document: the members of its top-level object one at a
time, and the items of a member's array one at a time, each with its place in the file.

It reads the file in chunks and decodes every value with the standard library's own decoder
(``json.JSONDecoder.raw_decode``), so what it accepts and rejects is what ``json.loads`` does
(NaN and huge integers included); only the file's outline (braces, brackets, commas, keys) is
walked here. Memory holds one value at a time; a malformed value is only reported once the file
has been read to its end (a value cut by a chunk boundary looks malformed too), so a broken file
may be read whole before its error is known.
"""

from __future__ import annotations

import codecs
import json
from typing import IO, Any

CHUNK_CHARS = 1 << 20
_WHITESPACE = " \t\n\r"


class JsonStreamError(Exception):
    """The file is not valid JSON (or not the outline the caller expects); says where."""


class JsonStream:
    """A read position in a JSON file opened in binary mode."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._json = json.JSONDecoder()
        self._text = ""
        self._position = 0
        # a known (character position, byte offset in the file) pair, moved forward as the
        # position is: encoding everything before the position each time would be quadratic
        self._known_position = 0
        self._known_byte = 0
        self._at_end = False

    # -- the outline ---------------------------------------------------------------------------

    def peek(self) -> str:
        """The next character that is not whitespace, not consumed ("" at the end of the file)."""
        while True:
            while self._position < len(self._text) and self._text[self._position] in _WHITESPACE:
                self._position += 1
            if self._position < len(self._text) or self._at_end:
                return self._text[self._position : self._position + 1]
            self._read_more(CHUNK_CHARS)

    def expect(self, allowed: str) -> str:
        """Consume the next character, which must be one of ``allowed``."""
        found = self.peek()
        if not found or found not in allowed:
            wanted = " or ".join(repr(char) for char in allowed)
            got = repr(found) if found else "the end of the file"
            raise JsonStreamError(f"expected {wanted} at byte {self.byte_offset()}, got {got}")
        self._position += 1
        return found

    def key(self) -> str:
        """A member's key and the colon after it."""
        if self.peek() != '"':
            raise JsonStreamError(f"expected a key (a string) at byte {self.byte_offset()}")
        key = str(self.value())  # a string: it starts with a quote
        self.expect(":")
        return key

    def value(self) -> Any:
        """The next whole JSON value, decoded."""
        self.peek()
        wanted = CHUNK_CHARS
        while True:
            try:
                value, end = self._json.raw_decode(self._text, self._position)
            except json.JSONDecodeError as error:
                if self._at_end:
                    self._position = error.pos
                    raise JsonStreamError(f"{error.msg} at byte {self.byte_offset()}") from None
                end = -1
            except RecursionError:
                raise JsonStreamError(f"nested too deeply at byte {self.byte_offset()}") from None
            # a number at the end of what was read may go on in the next chunk
            if end != -1 and (end < len(self._text) or self._at_end):
                self._position = end
                self._compact()
                return value
            # read at least as much again as is held: a big value costs at most two decodes
            wanted = max(wanted, len(self._text) - self._position)
            self._read_more(wanted)

    def byte_offset(self) -> int:
        """Where in the file the next unconsumed character is."""
        skipped = self._text[self._known_position : self._position]
        self._known_byte += len(skipped.encode("utf-8", "surrogatepass"))
        self._known_position = self._position
        return self._known_byte

    # -- reading ---------------------------------------------------------------------------------

    def _read_more(self, chars: int) -> None:
        chunk = self._handle.read(chars)
        try:
            self._text += self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            raise JsonStreamError(f"not UTF-8 text ({error.reason})") from None
        self._at_end = not chunk

    def _compact(self) -> None:
        """Drop what was consumed once it is most of what is held."""
        if self._position > CHUNK_CHARS and self._position * 2 > len(self._text):
            self.byte_offset()
            self._text = self._text[self._position :]
            self._position = self._known_position = 0
