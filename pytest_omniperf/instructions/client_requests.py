"""Callgrind client requests from Python: a tiny C helper, compiled on first use.

Client requests are magic instruction sequences that valgrind recognises; outside valgrind they
do nothing. Their only official form is the C macros of ``valgrind/callgrind.h``, so the helper is
compiled from those macros with the system C compiler, into a cache directory keyed by the source
and the header, and loaded with ctypes. This is correct on every architecture valgrind supports,
and it is what lets the valgrind run start with instrumentation off (``--instr-atstart=no``):
pytest starts under callgrind in about 3 s that way instead of 14 s with instrumentation on,
which ``--toggle-collect`` (the compiler-free alternative) would need.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

HEADER = Path("/usr/include/valgrind/callgrind.h")
HELPER_SOURCE = r"""
#include <valgrind/callgrind.h>

/* Collection is off between measured calls: start zeroes the counters and turns it on, stop
   turns it off and writes the count to a dump file named after the label. */
void omniperf_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_TOGGLE_COLLECT; }
void omniperf_stop(const char *label) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS_AT(label); }
void omniperf_instrument(int on) {
    if (on) { CALLGRIND_START_INSTRUMENTATION; } else { CALLGRIND_STOP_INSTRUMENTATION; }
}
int omniperf_on_valgrind(void) { return RUNNING_ON_VALGRIND; }
"""
INSTALL_HINT = "apt-get install valgrind gcc"


class HelperUnavailable(RuntimeError):
    """The client-request helper cannot be built here; the message says why in one line."""


def cache_folders() -> list[Path]:
    """Where the helper is kept: the user's cache, else the temporary folder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [Path(base) / "pytest-omniperf", Path(tempfile.gettempdir()) / "pytest-omniperf"]


def build_helper(folders: Sequence[Path] | None = None) -> Path:
    """The path of the compiled helper, compiling it on first use."""
    if not HEADER.exists():
        raise HelperUnavailable(f"valgrind's header {HEADER} is missing ({INSTALL_HINT})")
    key = hashlib.sha256(HELPER_SOURCE.encode() + HEADER.read_bytes()).hexdigest()[:16]
    folders = cache_folders() if folders is None else folders
    cached = [folder / f"callgrind-helper-{key}.so" for folder in folders]
    for target in cached:
        if target.exists():
            return target
    compiler = shutil.which(os.environ.get("CC") or "cc") or shutil.which("gcc")
    if compiler is None:
        raise HelperUnavailable(
            f"no C compiler to build the callgrind helper with ({INSTALL_HINT})"
        )
    for target in cached:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            return _compile(compiler, target)
        except OSError:
            continue  # an unwritable cache: try the next folder
    raise HelperUnavailable("no writable folder to build the callgrind helper in")


def _compile(compiler: str, target: Path) -> Path:
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        source = Path(scratch, "helper.c")
        source.write_text(HELPER_SOURCE)
        built = Path(scratch, "helper.so")
        completed = subprocess.run(
            [compiler, "-O2", "-shared", "-fPIC", "-o", str(built), str(source)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if completed.returncode != 0:
            first_error = (completed.stderr.strip().splitlines() or ["no message"])[0]
            raise HelperUnavailable(f"the callgrind helper did not compile: {first_error}")
        os.replace(built, target)  # atomic: parallel sessions never load a half-written file
    return target


class Callgrind:
    """The client requests, loaded from the compiled helper."""

    def __init__(self, helper: Path) -> None:
        library = ctypes.CDLL(str(helper))
        self.start = library.omniperf_start
        self.start.restype = None
        self.stop = library.omniperf_stop
        self.stop.argtypes = [ctypes.c_char_p]
        self.stop.restype = None
        self._instrument = library.omniperf_instrument
        self._on_valgrind = library.omniperf_on_valgrind

    @property
    def on_valgrind(self) -> bool:
        return bool(self._on_valgrind())

    def instrument(self, on: bool) -> None:
        """Turn instrumentation on or off (the run starts with it off, to start up fast)."""
        self._instrument(int(on))
