"""History exports as JSON documents: written run by run, read and checked run by run.

The document is ``{"format": "pytest-omniperf-history", "schema": N, "runs": [{"run": {...},
"measurements": [...]}, ...]}``, newest run first, the shape ``omniperf export --json`` writes and
``omniperf merge`` reads (pytest's ``--omniperf-json`` file and the ``omniperf-unsaved-run-*.json``
files have it too, with more members beside it). Neither side holds more than one run in memory:
an export of 1,000 runs x 200 measurements is a few hundred megabytes of text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from pytest_omniperf.history.acceptances import Acceptance
from pytest_omniperf.history.json_stream import JsonStream, JsonStreamError
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.history.schema import SCHEMA_VERSION
from pytest_omniperf.history.store import HistoryError, HistoryStore
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.record_checks import RecordError
from pytest_omniperf.values import shown

T = TypeVar("T")

EXPORT_FORMAT = "pytest-omniperf-history"

RunWithMeasurements = tuple[RunInfo, list[Measurement]]


# -- writing -----------------------------------------------------------------------------------


def export_document(
    runs: Iterable[RunWithMeasurements], acceptances: Sequence[Acceptance] = ()
) -> dict[str, Any]:
    """A whole document in memory: for a run or two (pytest's own JSON output)."""
    document = {
        "format": EXPORT_FORMAT,
        "schema": SCHEMA_VERSION,
        "runs": [_entry(run, measurements) for run, measurements in runs],
    }
    if acceptances:  # optional: a document without them is the shape of earlier releases
        document["acceptances"] = [acceptance.to_dict() for acceptance in acceptances]
    return document


def write_export(store: HistoryStore, runs: Sequence[RunInfo], out: IO[str]) -> None:
    """Write ``runs`` (newest first) and their measurements to ``out``, one run at a time,
    then the acceptances of those runs: the same text as
    ``json.dump(export_document(...), out, indent=1)``."""
    header = json.dumps({"format": EXPORT_FORMAT, "schema": SCHEMA_VERSION}, indent=1)
    out.write(header.removesuffix("\n}") + ',\n "runs": [')
    for number, run in enumerate(runs):
        measurements = store.run_measurements(run.id) if run.id is not None else []
        # each entry sits two levels deep; JSON strings hold no raw line breaks
        text = json.dumps(_entry(run, measurements), indent=1).replace("\n", "\n  ")
        out.write(f"{',' if number else ''}\n  {text}")
    out.write("\n ]" if runs else "]")
    exported = {run.id for run in runs}
    acceptances = [a.to_dict() for a in store.acceptances() if a.run_id in exported]
    if acceptances:
        out.write(',\n "acceptances": ' + json.dumps(acceptances, indent=1).replace("\n", "\n "))
    out.write("\n}")


def _entry(run: RunInfo, measurements: list[Measurement]) -> dict[str, Any]:
    return {"run": run.to_dict(), "measurements": [m.to_dict() for m in measurements]}


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportEntry:
    """Where one checked run is in an export file, to read it again without the others."""

    number: int
    uuid: str
    byte_offset: int
    byte_length: int


def check_export(path: Path) -> list[ExportEntry]:
    """Read and check every run of the export at ``path``, one at a time; a HistoryError names
    the file and the first bad field (``runs[0].measurements[2].samples_s``)."""
    return check_export_outline(path)[0]


def check_export_outline(path: Path) -> tuple[list[ExportEntry], list[Acceptance]]:
    """:func:`check_export`, and the export's acceptances, checked (none when it has none)."""
    try:
        with path.open("rb") as handle:
            checker = _ExportChecker(JsonStream(handle))
            return checker.entries(), checker.acceptances
    except OSError as error:
        raise HistoryError(f"cannot read {path}: {shown(error)}") from None
    except JsonStreamError as error:
        raise HistoryError(f"cannot read {path}: {error}") from None
    except _NotAnExport:
        raise HistoryError(f"{path} is not a pytest-omniperf history export") from None
    except RecordError as error:
        raise HistoryError(f"{path}: {error}") from None


def read_export_runs(path: Path, entries: Sequence[ExportEntry]) -> Iterator[RunWithMeasurements]:
    """The runs at ``entries`` (from :func:`check_export`), in that order, one at a time."""
    try:
        with path.open("rb") as handle:
            for entry in entries:
                handle.seek(entry.byte_offset)
                text = handle.read(entry.byte_length).decode("utf-8")
                yield _entry_run(json.loads(text), f"runs[{entry.number}]")
    except (OSError, ValueError, RecursionError) as error:
        raise HistoryError(f"cannot read {path} (changed while merging?): {shown(error)}") from None
    except RecordError as error:
        raise HistoryError(f"{path} (changed while merging?): {error}") from None


def read_document(path: Path) -> list[RunWithMeasurements]:
    """Every run of the export at ``path``, checked, newest first (all in memory)."""
    return list(read_export_runs(path, check_export(path)))


class _NotAnExport(Exception):
    pass


class _ExportChecker:
    """Walks an export's outline; every run entry is decoded and checked, then dropped."""

    def __init__(self, stream: JsonStream) -> None:
        self.stream = stream
        self.header: dict[str, Any] = {}
        self.found: list[ExportEntry] = []
        self.first_with_uuid: dict[str, tuple[int, bytes]] = {}
        self.acceptances: list[Acceptance] = []
        self.deferred: RecordError | None = None
        """A bad run met before the format and schema were known: those are reported first."""

    def entries(self) -> list[ExportEntry]:
        stream = self.stream
        if stream.peek() != "{":
            stream.value()  # a JSON error, or valid JSON of another kind
            raise _NotAnExport
        stream.expect("{")
        runs_seen = False
        if stream.peek() == "}":
            stream.expect("}")
        else:
            while True:
                key = stream.key()
                if key == "runs" and not runs_seen:
                    runs_seen = True
                    self._check_header(complete=False)
                    self._runs()
                else:
                    self.header[key] = stream.value()
                if stream.expect(",}") == "}":
                    break
        if stream.peek():
            raise JsonStreamError(f"extra data at byte {stream.byte_offset()}")
        self._check_header(complete=True)
        if self.deferred:
            raise self.deferred
        if not runs_seen:
            raise RecordError("runs", "expected a list, got None")
        return self.found

    def _check_header(self, *, complete: bool) -> None:
        """Format and schema, once both are known (or the document ended without them)."""
        if "format" not in self.header and not complete:
            return
        if self.header.get("format") != EXPORT_FORMAT:
            raise _NotAnExport
        if "schema" not in self.header and not complete:
            return
        schema = self.header.get("schema")
        if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
            raise RecordError("schema", f"expected a schema version >= 1, got {shown(schema)}")
        if schema > SCHEMA_VERSION:
            raise RecordError(
                "schema",
                f"version {schema} is newer than this pytest-omniperf understands "
                f"({SCHEMA_VERSION}): upgrade pytest-omniperf to merge it",
            )
        if complete:
            self.acceptances = _acceptances(self.header.get("acceptances", []))

    def _runs(self) -> None:
        stream = self.stream
        if stream.peek() != "[":
            raise RecordError("runs", f"expected a list, got {shown(stream.value())}")
        stream.expect("[")
        if stream.peek() == "]":
            stream.expect("]")
            return
        number = 0
        while True:
            start = stream.byte_offset()
            entry = stream.value()
            length = stream.byte_offset() - start
            if self.deferred is None:
                try:
                    self._check_entry(number, entry, start, length)
                except RecordError as error:
                    if "format" in self.header and "schema" in self.header:
                        raise
                    self.deferred = error
            number += 1
            if stream.expect(",]") == "]":
                return

    def _check_entry(self, number: int, entry: Any, offset: int, length: int) -> None:
        where = f"runs[{number}]"
        run_data = entry.get("run") if isinstance(entry, dict) else None
        uuid = run_data.get("uuid") if isinstance(run_data, dict) else None
        if isinstance(uuid, str):
            # merge keeps one run per uuid: which of two different copies would be arbitrary
            content = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).digest()
            earlier, earlier_content = self.first_with_uuid.setdefault(uuid, (number, content))
            if earlier_content != content:
                raise RecordError(
                    f"{where}.run.uuid",
                    f"{shown(uuid)} is also the uuid of runs[{earlier}], with other content",
                )
        run, _ = _entry_run(entry, where)
        self.found.append(ExportEntry(number, run.uuid, offset, length))


def _entry_run(entry: object, where: str) -> RunWithMeasurements:
    """One entry of ``runs``, every field checked; a RecordError names the field."""
    if not isinstance(entry, dict):
        raise RecordError(where, f"expected an object, got {shown(entry)}")
    run_data, items = entry.get("run"), entry.get("measurements")
    if not isinstance(run_data, dict):
        raise RecordError(f"{where}.run", f"expected an object, got {shown(run_data)}")
    if not isinstance(items, list):
        raise RecordError(f"{where}.measurements", f"expected a list, got {shown(items)}")
    run = _record(RunInfo.from_record, run_data, f"{where}.run")
    run.id = None  # ids are the target database's own
    measurements = [
        _record(Measurement.from_record, item, f"{where}.measurements[{index}]")
        for index, item in enumerate(items)
    ]
    return run, measurements


def _acceptances(items: object) -> list[Acceptance]:
    """The optional ``acceptances`` list, every field checked; each names its run by uuid."""
    if not isinstance(items, list):
        raise RecordError("acceptances", f"expected a list, got {shown(items)}")
    found = []
    for index, item in enumerate(items):
        where = f"acceptances[{index}]"
        acceptance = _record(Acceptance.from_record, item, where)
        if not acceptance.run_uuid:
            raise RecordError(f"{where}.run_uuid", "expected the uuid of the accepted run")
        found.append(acceptance)
    return found


def _record(decode: Callable[[dict[str, Any]], T], data: object, where: str) -> T:
    if not isinstance(data, dict):
        raise RecordError(where, f"expected an object, got {shown(data)}")
    try:
        return decode(data)
    except RecordError as error:
        raise RecordError(f"{where}.{error.field}", error.problem) from None
