"""Merging histories (``omniperf merge``): the runs of other databases and JSON exports added to
one database, in two passes that each hold one run in memory at a time.

The first pass reads and checks every run of every source and writes nothing; only then is the
target opened (or created) and the second pass reads the sources again and adds the runs it does
not hold yet (by uuid), all in one transaction, then the acceptances (``omniperf accept``) of
runs it holds in a second. So a bad source adds nothing, and a merge that fails creates no
target: neither the file nor the folders it would have made.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pytest_omniperf.history.acceptances import Acceptance
from pytest_omniperf.history.documents import (
    ExportEntry,
    RunWithMeasurements,
    check_export_outline,
    read_export_runs,
)
from pytest_omniperf.history.store import HistoryError, HistoryStore


class RunSource(Protocol):
    """Where merged runs come from: read twice, to check and then to add."""

    path: Path

    def check(self) -> int:
        """Read and check every run; how many runs the source holds."""

    def runs_oldest_first(self) -> Iterator[RunWithMeasurements]:
        """The runs again, oldest first (so the target's ids follow time), one at a time."""

    def acceptances(self) -> list[Acceptance]:
        """The source's acceptances (of its runs, by uuid), read and checked by ``check``."""


class DatabaseSource:
    """A history database to merge from (an older schema is upgraded on opening, as always)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._acceptances: list[Acceptance] = []

    def check(self) -> int:
        with HistoryStore.open(self.path, create=False) as origin:
            runs = origin.runs()
            for run in runs:
                origin.run_measurements(run.id or 0)
            self._acceptances = origin.acceptances()
            _refuse_bad_rows(origin)
        return len(runs)

    def acceptances(self) -> list[Acceptance]:
        return self._acceptances

    def runs_oldest_first(self) -> Iterator[RunWithMeasurements]:
        with HistoryStore.open(self.path, create=False) as origin:
            for run in reversed(origin.runs()):
                measurements = origin.run_measurements(run.id or 0)
                _refuse_bad_rows(origin)  # only if the source changed since it was checked
                yield run, measurements


def _refuse_bad_rows(origin: HistoryStore) -> None:
    if origin.skipped_rows:
        more = len(origin.skipped_rows) - 1
        first = next(iter(origin.skipped_rows)).replace("skipped a bad row of ", "", 1)
        raise HistoryError(
            f"{first}" + (f" (and {more} more bad rows)" if more else "") + "; nothing merged"
        )


class ExportSource:
    """A JSON export to merge from; the first pass notes where each run is in the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: list[ExportEntry] = []
        self._acceptances: list[Acceptance] = []

    def check(self) -> int:
        self._entries, self._acceptances = check_export_outline(self.path)
        return len(self._entries)

    def acceptances(self) -> list[Acceptance]:
        return self._acceptances

    def runs_oldest_first(self) -> Iterator[RunWithMeasurements]:
        return read_export_runs(self.path, self._entries[::-1])  # exports are newest first


@dataclass(frozen=True)
class SourceMerged:
    path: Path
    new_runs: int
    runs: int


@dataclass(frozen=True)
class MergeOutcome:
    sources: list[SourceMerged]
    added: int
    acceptances_added: int = 0


def merge_histories(paths: Sequence[Path], target: Path) -> MergeOutcome:
    """Add the runs of the databases and exports at ``paths`` to the database ``target``."""
    sources = [_source(path, target) for path in paths]
    if target.is_dir():
        raise HistoryError(f"--into {target} is a folder, not a database file")
    counts = [source.check() for source in sources]
    uuids_by_source: list[set[str]] = [set() for _ in sources]

    def every_run() -> Iterator[RunWithMeasurements]:
        for source, uuids in zip(sources, uuids_by_source, strict=True):
            for run, measurements in source.runs_oldest_first():
                uuids.add(run.uuid)
                yield run, measurements

    with _removed_on_failure(target), HistoryStore.open(target) as store, store.transaction():
        added = store.merge_from(every_run())
        # after the runs: an acceptance names its run by uuid, found in the target
        acceptances_added = store.merge_acceptances(
            acceptance for source in sources for acceptance in source.acceptances()
        )
    merged: list[SourceMerged] = []
    seen: set[str] = set()
    for source, uuids, count in zip(sources, uuids_by_source, counts, strict=True):
        merged.append(SourceMerged(source.path, len((uuids & added) - seen), count))
        seen |= uuids
    return MergeOutcome(merged, len(added), acceptances_added)


def _source(path: Path, target: Path) -> RunSource:
    if not path.is_file():
        raise HistoryError(f"no such file: {path}")
    if target.exists() and os.path.samefile(path, target):
        raise HistoryError(f"{path} is the target itself (--into {target}): nothing to merge")
    if path.suffix.lower() == ".json":
        return ExportSource(path)
    return DatabaseSource(path)


@contextmanager
def _removed_on_failure(target: Path) -> Iterator[None]:
    """Remove a target this merge created, and the folders it made for it, if the merge fails."""
    existed = target.exists()
    # deepest first: the order to remove them in
    missing_folders = [
        folder for folder in [target.parent, *target.parent.parents] if not folder.exists()
    ]
    try:
        yield
    except BaseException:
        if not existed:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            for folder in missing_folders:
                with suppress(OSError):  # not empty: something else was put there meanwhile
                    folder.rmdir()
        raise
