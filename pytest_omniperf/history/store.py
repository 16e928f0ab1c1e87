"""The history database: runs and their measurements in SQLite, through sqlite-utils.

Safe on shared CI runners and with parallel jobs: WAL journaling, a busy timeout, and every run
written in one ``BEGIN IMMEDIATE`` transaction, so a run is either wholly there or absent (also
after SIGKILL). A database that is corrupt, locked past the timeout, read-only, or written by a
newer release raises :class:`HistoryError` with one line naming the file, and is left untouched.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlite_utils import Database

from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.history.schema import MIGRATIONS, SCHEMA_VERSION, TABLES
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.record_checks import LONGEST_SAMPLE_S, RecordError
from pytest_omniperf.values import as_float, shown, storable_text

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT_S = 5.0
EXPORT_FORMAT = "pytest-omniperf-history"

_RUN_JSON_COLUMNS = ("machine", "packages")
_RUN_BOOL_COLUMNS = ("git_dirty", "gated", "regressed", "baseline_eligible")
# measurements columns by Measurement field; the JSON ones hold text to decode
_MEASUREMENT_COLUMNS = {
    **{name: name for name in ("test_id", "name", "kind", "clock", "unit", "rounds", "warmup")},
    **{name: name for name in ("wall_s", "verdict", "message", "stats", "budgets", "comparison")},
    "regression": "regression",
    "group": "group_name",
    "samples_s": "samples",
    "sequential_samples_s": "sequential_samples",
}
_MEASUREMENT_JSON_COLUMNS = ("samples", "sequential_samples", "stats", "budgets", "comparison")


def _decode_text(cell: bytes) -> str:
    return cell.decode("utf-8", "surrogateescape")


class MeasuredLevel(NamedTuple):
    """One stored measurement's values that a level history reads (see
    :meth:`HistoryStore.measured_levels`)."""

    run_id: int
    test_id: str
    name: str
    p50: float | None
    speedup: float | None
    samples_s: list[float]
    sequential_samples_s: list[float]


def _measured_level(row: dict[str, Any]) -> MeasuredLevel | None:
    """The level values of a measurements row when they are plainly good, else None."""
    test_id, name = row["test_id"], row["name"]
    try:
        stats = json.loads(row["stats"])
        samples = json.loads(row["samples"])
        sequential = json.loads(row["sequential_samples"])
    except (TypeError, ValueError, RecursionError):
        return None
    if not (isinstance(test_id, str) and test_id and isinstance(name, str) and name):
        return None
    if not (isinstance(stats, dict) and _durations(samples) and _durations(sequential)):
        return None
    median, speedup = stats.get("p50"), stats.get("speedup")
    if isinstance(median, bool) or not isinstance(median, int | float):
        return None
    if not math.isfinite(median) or not (speedup is None or type(speedup) in (int, float)):
        return None
    return MeasuredLevel(row["run_id"], test_id, name, median, speedup, samples, sequential)


def _durations(value: object) -> bool:
    return isinstance(value, list) and all(
        type(item) in (int, float) and 0 <= item <= LONGEST_SAMPLE_S for item in value
    )


class HistoryError(Exception):
    """The history cannot be read or written; the message names the file and the reason."""


class HistoryStore:
    """An open history database. Use :meth:`open`; close it (or use it as a context manager)."""

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._connection = connection
        self._db = Database(connection, execute_plugins=False)
        self.skipped_rows: dict[str, None] = {}
        """One line per bad row that reading skipped (insertion-ordered, no repeats)."""

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        create: bool = True,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> HistoryStore:
        """Open (and with ``create``, create or migrate) the database at ``path``."""
        path = Path(path)
        if not path.exists():
            if not create:
                raise HistoryError(f"no history database at {path}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise HistoryError(f"cannot create {path.parent}: {error.strerror}") from None
        try:
            connection = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
        except sqlite3.Error as error:
            raise HistoryError(f"cannot open history database {path}: {error}") from None
        # A cell that is not valid UTF-8 (a damaged or hand-made file) would make sqlite3 fail
        # the whole query, so one bad row would hide every run. Decoded with its bad bytes as
        # lone surrogates instead, it fails the row's own checks and only that row is skipped.
        connection.text_factory = _decode_text
        try:
            store = cls(path, connection, busy_timeout_s)
            store._prepare(create)
        except BaseException:
            connection.close()
            raise
        return store

    def _prepare(self, create: bool) -> None:
        with self._errors("read"):
            version = self._user_version()
            tables = set(self._db.table_names())
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"history database {self.path} has schema version {version}, newer than this "
                f"pytest-omniperf understands ({SCHEMA_VERSION}): upgrade pytest-omniperf or use "
                "another --omniperf-history; the file was left untouched"
            )
        if version > 0 and not tables.issuperset(TABLES):
            raise HistoryError(
                f"{self.path} is not a pytest-omniperf history (missing tables: "
                f"{', '.join(sorted(set(TABLES) - tables))}): another application's "
                "database, or a damaged one; it was left untouched"
            )
        if version < SCHEMA_VERSION:
            if not create:
                raise HistoryError(f"{self.path} is not a pytest-omniperf history database")
            with self._errors("initialise"):
                self._migrate()
        self._connection.execute("PRAGMA foreign_keys = ON")

    def _user_version(self) -> int:
        row = self._connection.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def _migrate(self) -> None:
        with self._transaction():
            # re-read inside the write lock: another process may have migrated meanwhile
            version = self._user_version()
            if version == 0 and self._db.table_names():
                raise HistoryError(
                    f"{self.path} is an SQLite database of something else; it was left untouched"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        self._connection.execute(statement)
            self._connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        # WAL lets readers go on while a run is written; it is a property of the file
        self._connection.execute("PRAGMA journal_mode = WAL")

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    @contextmanager
    def _errors(
        self, action: str, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> Iterator[None]:
        """Turn sqlite3 errors into one-line HistoryErrors that name the file."""
        try:
            yield
        except sqlite3.OperationalError as error:
            text = str(error)
            if "locked" in text or "busy" in text:
                raise HistoryError(
                    f"history database {self.path} is locked by another writer for more than "
                    f"{self.busy_timeout_s:g} s; could not {action} it"
                ) from None
            if "readonly" in text or "unable to open" in text:
                raise HistoryError(
                    f"history database {self.path} is read-only here ({text}); "
                    f"could not {action} it"
                ) from None
            raise HistoryError(f"could not {action} history database {self.path}: {text}") from None
        except sqlite3.DatabaseError as error:
            raise HistoryError(
                f"history database {self.path} is corrupt or not a database ({error}); "
                "it was left untouched"
            ) from None

    # -- writing -----------------------------------------------------------------------------

    def save_run(self, run: RunInfo, measurements: Iterable[Measurement]) -> int:
        """Store a run and its measurements in one transaction; returns the run's id."""
        with self._errors("write"), self._transaction():
            return self._insert_run(run, measurements)

    def _insert_run(self, run: RunInfo, measurements: Iterable[Measurement]) -> int:
        run_id = self._db.table("runs").insert(_storable(_run_row(run))).last_pk
        assert isinstance(run_id, int)
        measurements_table = self._db.table("measurements")
        for measurement in measurements:
            row = _storable(_measurement_row(run_id, measurement))
            measurement_id = measurements_table.insert(row).last_pk
            if measurement.metrics:
                self._db.table("metrics").insert_all(
                    {
                        "measurement_id": measurement_id,
                        "name": storable_text(name),
                        "value": float(value),
                    }
                    for name, value in measurement.metrics.items()
                )
        run.id = run_id
        return run_id

    def merge_from(self, runs: Iterable[tuple[RunInfo, list[Measurement]]]) -> set[str]:
        """Add the runs not yet present (by uuid), all in one transaction; returns the uuids
        of the runs added."""
        added: set[str] = set()
        with self._errors("write"), self._transaction():
            for run, measurements in runs:
                present = self._connection.execute(
                    "SELECT 1 FROM runs WHERE uuid = ?", [run.uuid]
                ).fetchone()
                if present:
                    continue
                run.id = None
                self._insert_run(run, measurements)
                added.add(run.uuid)
        return added

    def prune(self, keep: int) -> int:
        """Keep the newest ``keep`` runs of each label and machine; returns how many went."""
        with self._errors("prune"), self._transaction():
            doomed = [
                row[0]
                for row in self._connection.execute(
                    """
                    SELECT id FROM (
                        SELECT id, row_number() OVER (
                            PARTITION BY label, machine_fingerprint
                            ORDER BY started_at DESC, id DESC
                        ) AS position FROM runs
                    ) WHERE position > ?
                    """,
                    [keep],
                )
            ]
            for run_id in doomed:
                self._connection.execute("DELETE FROM runs WHERE id = ?", [run_id])
        return len(doomed)

    # -- reading -----------------------------------------------------------------------------

    def runs(
        self,
        *,
        label: str | None = None,
        machine_fingerprint: str | None = None,
        baseline_only: bool = False,
        limit: int | None = None,
    ) -> list[RunInfo]:
        """Runs, newest first, optionally filtered."""
        clauses, params = [], []
        if label is not None:
            clauses.append("label = ?")
            params.append(label)
        if machine_fingerprint is not None:
            clauses.append("machine_fingerprint = ?")
            params.append(machine_fingerprint)
        if baseline_only:
            clauses.append("baseline_eligible = 1")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM runs {where} ORDER BY started_at DESC, id DESC"
        runs: list[RunInfo] = []
        with self._errors("read"):
            # no SQL LIMIT: a bad row is skipped and the next good one takes its place
            for row in self._db.query(sql, params):
                if limit is not None and len(runs) >= limit:
                    break
                try:
                    runs.append(_run_from_row(row))
                except RecordError as error:
                    self._skip(f"run #{row['id']}: {error}")
        return runs

    def run(self, run_id: int) -> RunInfo:
        with self._errors("read"):
            rows = list(self._db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise HistoryError(f"no run {run_id} in {self.path} (see: omniperf runs)")
        try:
            return _run_from_row(rows[0])
        except RecordError as error:
            raise HistoryError(f"run {run_id} in {self.path} cannot be read: {error}") from None

    def measurements(self, run_ids: Iterable[int]) -> dict[int, list[Measurement]]:
        """Measurements of the given runs, by run id, with their metrics."""
        ids = list(run_ids)
        found: dict[int, list[Measurement]] = {run_id: [] for run_id in ids}
        if not ids:
            return found
        marks = ",".join("?" * len(ids))
        with self._errors("read"):
            metric_rows = list(
                self._db.query(
                    f"SELECT measurements.run_id, metrics.* FROM metrics JOIN measurements ON "
                    f"measurements.id = metrics.measurement_id "
                    f"WHERE measurements.run_id IN ({marks})",
                    ids,
                )
            )
            rows = list(
                self._db.query(
                    f"SELECT * FROM measurements WHERE run_id IN ({marks}) ORDER BY id", ids
                )
            )
        metrics: dict[int, dict[str, float]] = {}
        for row in metric_rows:
            value = as_float(row["value"], finite=False)
            if not isinstance(row["name"], str) or value is None:
                self._skip(
                    f"run #{row['run_id']}: metric {shown(row['name'])} of measurement "
                    f"#{row['measurement_id']}: column value: expected a number, "
                    f"got {shown(row['value'])}"
                )
                continue
            metrics.setdefault(row["measurement_id"], {})[row["name"]] = value
        for row in rows:
            try:
                measurement = _measurement_from_row(row)
            except RecordError as error:
                self._skip(f"run #{row['run_id']}: measurement #{row['id']}: {error}")
                continue
            measurement.metrics = metrics.get(row["id"], {})
            found[row["run_id"]].append(measurement)
        return found

    def measured_levels(self, run_ids: Iterable[int]) -> list[MeasuredLevel]:
        """The medians, speedups and samples of the given runs' measurements: what a level
        history needs (history/level_history.py), without building whole records, since a
        compared run reads thousands of them (50 runs of a suite). A row whose values fail the
        checks is skipped with the same warning line :meth:`measurements` gives for it."""
        ids = list(run_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self._errors("read"):
            rows = list(
                self._db.query(
                    f"SELECT * FROM measurements WHERE run_id IN ({marks}) ORDER BY id", ids
                )
            )
        levels = []
        for row in rows:
            level = _measured_level(row)
            if level is None:  # not plainly good: the full checks say why, or let it pass
                try:
                    measurement = _measurement_from_row(row)
                except RecordError as error:
                    self._skip(f"run #{row['run_id']}: measurement #{row['id']}: {error}")
                    continue
                level = MeasuredLevel(
                    row["run_id"],
                    measurement.test_id,
                    measurement.name,
                    measurement.stats.get("p50"),
                    measurement.stats.get("speedup"),
                    measurement.samples_s,
                    measurement.sequential_samples_s,
                )
            levels.append(level)
        return levels

    def _skip(self, line: str) -> None:
        self.skipped_rows[f"skipped a bad row of {self.path}: {line}"] = None

    def export(self, runs: Iterable[RunInfo]) -> dict[str, Any]:
        """Runs and their measurements as one JSON-serialisable document."""
        selected = list(runs)
        by_run = self.measurements(run.id for run in selected if run.id is not None)
        return export_document(
            (run, by_run.get(run.id, []) if run.id is not None else []) for run in selected
        )


# -- JSON documents (export, import, runs that could not be saved) -----------------------------


def export_document(runs: Iterable[tuple[RunInfo, list[Measurement]]]) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "schema": SCHEMA_VERSION,
        "runs": [
            {"run": run.to_dict(), "measurements": [m.to_dict() for m in measurements]}
            for run, measurements in runs
        ],
    }


def read_document(path: Path) -> list[tuple[RunInfo, list[Measurement]]]:
    """The runs of a JSON export, every field checked; a HistoryError names the file and the
    first bad field (``runs[0].measurements[2].samples_s``)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as error:
        raise HistoryError(f"cannot read {path}: {shown(error)}") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise HistoryError(f"{path} is not a pytest-omniperf history export")
    try:
        return _document_runs(document)
    except RecordError as error:
        raise HistoryError(f"{path}: {error}") from None


def _document_runs(document: dict[str, Any]) -> list[tuple[RunInfo, list[Measurement]]]:
    schema = document.get("schema")
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        raise RecordError("schema", f"expected a schema version >= 1, got {shown(schema)}")
    if schema > SCHEMA_VERSION:
        raise RecordError(
            "schema",
            f"version {schema} is newer than this pytest-omniperf understands "
            f"({SCHEMA_VERSION}): upgrade pytest-omniperf to merge it",
        )
    entries = document.get("runs")
    if not isinstance(entries, list):
        raise RecordError("runs", f"expected a list, got {shown(entries)}")
    runs = []
    first_with_uuid: dict[str, tuple[int, dict[str, Any]]] = {}
    for number, entry in enumerate(entries):
        where = f"runs[{number}]"
        if not isinstance(entry, dict):
            raise RecordError(where, f"expected an object, got {shown(entry)}")
        uuid = entry.get("run", {}).get("uuid") if isinstance(entry.get("run"), dict) else None
        if isinstance(uuid, str) and uuid in first_with_uuid:
            earlier, earlier_entry = first_with_uuid[uuid]
            if earlier_entry != entry:
                # merge keeps one run per uuid: which copy would be arbitrary
                raise RecordError(
                    f"{where}.run.uuid",
                    f"{shown(uuid)} is also the uuid of runs[{earlier}], with other content",
                )
        elif isinstance(uuid, str):
            first_with_uuid[uuid] = (number, entry)
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
        runs.append((run, measurements))
    return runs


def _record(decode: Callable[[dict[str, Any]], T], data: object, where: str) -> T:
    if not isinstance(data, dict):
        raise RecordError(where, f"expected an object, got {shown(data)}")
    try:
        return decode(data)
    except RecordError as error:
        raise RecordError(f"{where}.{error.field}", error.problem) from None


# -- rows --------------------------------------------------------------------------------------


def _storable(row: dict[str, Any]) -> dict[str, Any]:
    """Text cells as SQLite can store them: a label from ``GITHUB_HEAD_REF`` or a measurement
    name may hold lone surrogates (undecodable bytes), on which the whole run's write would
    fail. JSON cells are already ASCII."""
    return {
        column: storable_text(value) if isinstance(value, str) else value
        for column, value in row.items()
    }


def _run_row(run: RunInfo) -> dict[str, Any]:
    row = run.to_dict()
    row.pop("id")
    for column in _RUN_JSON_COLUMNS:
        row[column] = json.dumps(row[column], sort_keys=True)
    return row


def _run_from_row(row: dict[str, Any]) -> RunInfo:
    """A runs row, checked; a RecordError names the column."""
    data = dict(row)
    try:
        for column in _RUN_JSON_COLUMNS:
            data[column] = _json_cell(data[column], column)
        for column in _RUN_BOOL_COLUMNS:
            if data[column] in (0, 1) and not isinstance(data[column], float):
                data[column] = bool(data[column])
        return RunInfo.from_record(data)
    except RecordError as error:
        raise RecordError(f"column {error.field}", error.problem) from None


def _json_cell(value: object, column: str, *, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise RecordError(column, f"expected JSON text, got {shown(value)}")
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise RecordError(column, f"not JSON: {shown(value)}") from None


def _measurement_row(run_id: int, measurement: Measurement) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "test_id": measurement.test_id,
        "name": measurement.name,
        "kind": measurement.kind,
        "mode": "both" if measurement.kind == "speedup" else "parallel",
        "clock": measurement.clock,
        "unit": measurement.unit,
        "group_name": measurement.group,
        "rounds": measurement.rounds,
        "warmup": measurement.warmup,
        "wall_s": measurement.wall_s,
        "samples": json.dumps(measurement.samples_s),
        "sequential_samples": json.dumps(measurement.sequential_samples_s),
        "p50": measurement.stats.get("p50"),
        "p95": measurement.stats.get("p95"),
        "speedup": measurement.stats.get("speedup"),
        "stats": json.dumps(measurement.stats),
        "budgets": json.dumps(measurement.budgets),
        "verdict": measurement.verdict,
        "message": measurement.message,
        "comparison": (
            json.dumps(measurement.comparison.to_dict()) if measurement.comparison else None
        ),
        "regression": measurement.regression,
    }


def _measurement_from_row(row: dict[str, Any]) -> Measurement:
    """A measurements row, checked; a RecordError names the column."""
    data = {}
    try:
        for field_name, column in _MEASUREMENT_COLUMNS.items():
            value = row[column]
            if column in _MEASUREMENT_JSON_COLUMNS:
                value = _json_cell(value, field_name, nullable=column == "comparison")
            data[field_name] = value
        return Measurement.from_record(data)
    except RecordError as error:
        # "samples_s[3]" is column "samples", item 3
        field_name, bracket, rest = error.field.partition("[")
        column = _MEASUREMENT_COLUMNS.get(field_name, field_name)
        raise RecordError(f"column {column}{bracket}{rest}", error.problem) from None
