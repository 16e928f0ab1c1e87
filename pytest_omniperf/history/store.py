"""The history database: runs and their measurements in SQLite (the standard library's
``sqlite3`` only: a command that reads the history starts in a few tens of milliseconds).

Safe on shared CI runners and with parallel jobs: WAL journaling, a busy timeout, and every run
written in one ``BEGIN IMMEDIATE`` transaction, so a run is either wholly there or absent (also
after SIGKILL). A database that is corrupt, locked past the timeout, read-only, or written by a
newer release raises :class:`HistoryError` with one line naming the file, and is left untouched.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from pytest_omniperf.history.acceptances import Acceptance
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.history.schema import MIGRATIONS, SCHEMA_VERSION, TABLES
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.record_checks import LONGEST_SAMPLE_S, RecordError
from pytest_omniperf.values import as_float, shown, storable_text

DEFAULT_BUSY_TIMEOUT_S = 5.0

_RUN_JSON_COLUMNS = ("machine", "packages", "ab_job")
_RUN_NULLABLE_JSON_COLUMNS = ("ab_job",)
_RUN_BOOL_COLUMNS = ("git_dirty", "gated", "regressed", "baseline_eligible")
# measurements columns by Measurement field; the JSON ones hold text to decode
_MEASUREMENT_COLUMNS = {
    **{name: name for name in ("test_id", "name", "kind", "clock", "unit", "rounds", "warmup")},
    **{name: name for name in ("wall_s", "verdict", "message", "stats", "budgets", "comparison")},
    "regression": "regression",
    "group": "group_name",
    "samples_s": "samples",
    "sequential_samples_s": "sequential_samples",
    "arms": "arms",
    "metric_budgets": "metric_budgets",
}
_MEASUREMENT_JSON_COLUMNS = (
    "samples",
    "sequential_samples",
    "stats",
    "budgets",
    "comparison",
    "arms",
    "metric_budgets",
)


def _decode_text(cell: bytes) -> str:
    return cell.decode("utf-8", "surrogateescape")


def _row_as_dict(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


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
            tables = self._table_names()
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
        if version == 0 and not create:
            raise HistoryError(f"{self.path} is not a pytest-omniperf history database")
        if version < SCHEMA_VERSION:
            # an older history is brought forward also when it is only read: the reading code
            # knows the current columns only, and pytest's next run would migrate it anyway
            with self._errors("upgrade" if version else "initialise"):
                self._migrate()
        self._connection.execute("PRAGMA foreign_keys = ON")

    def _user_version(self) -> int:
        row = self._connection.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def _table_names(self) -> set[str]:
        rows = self._connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}

    def _query(self, sql: str, params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        """Rows as dicts, one at a time (never the whole result in memory)."""
        cursor = self._connection.cursor()
        cursor.row_factory = _row_as_dict
        return cursor.execute(sql, list(params))

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        columns = ", ".join(f'"{column}"' for column in row)
        marks = ", ".join("?" * len(row))
        cursor = self._connection.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values())
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _migrate(self) -> None:
        with self._transaction():
            # re-read inside the write lock: another process may have migrated meanwhile
            version = self._user_version()
            if version == 0 and self._table_names():
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
    def transaction(self) -> Iterator[None]:
        """One transaction around several writes (a merge adds runs, then their acceptances):
        all of them or none."""
        with self._errors("write"), self._transaction():
            yield

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._connection.in_transaction:
            yield  # inside an outer transaction, which commits or rolls back
            return
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
        run_id = self._insert("runs", _storable(_run_row(run)))
        for measurement in measurements:
            measurement_id = self._insert(
                "measurements", _storable(_measurement_row(run_id, measurement))
            )
            self._connection.executemany(
                "INSERT INTO metrics (measurement_id, name, value) VALUES (?, ?, ?)",
                [
                    (measurement_id, storable_text(name), float(value))
                    for name, value in measurement.metrics.items()
                ],
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

    # -- acceptances (omniperf accept) -------------------------------------------------------

    def add_acceptance(self, acceptance: Acceptance) -> Acceptance:
        """Store an acceptance of one of this history's runs; returns it with its id."""
        with self._errors("write"), self._transaction():
            cursor = self._connection.execute(
                "INSERT INTO acceptances (run_id, pattern, reason, who, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    acceptance.run_id,
                    *map(storable_text, (acceptance.pattern, acceptance.reason, acceptance.who)),
                    acceptance.created_at,
                ],
            )
        return replace(acceptance, id=cursor.lastrowid)

    def acceptances(self) -> list[Acceptance]:
        """Every acceptance, oldest first, with its run's uuid (bad rows skipped, see
        skipped_rows)."""
        found: list[Acceptance] = []
        with self._errors("read"):
            cursor = self._connection.execute(
                "SELECT acceptances.*, runs.uuid AS run_uuid FROM acceptances "
                "JOIN runs ON runs.id = acceptances.run_id ORDER BY acceptances.id"
            )
            columns = [column[0] for column in cursor.description]
            for values in cursor:
                row = dict(zip(columns, values, strict=True))
                try:
                    found.append(Acceptance.from_record(row))
                except RecordError as error:
                    self._skip(f"acceptance #{row['id']}: column {error}")
        return found

    def accepted_runs(self, acceptances: Iterable[Acceptance]) -> dict[int, RunInfo]:
        """The runs the acceptances accepted, by id; an acceptance whose run row is bad is left
        out (its run id is absent) with one line in skipped_rows."""
        found: dict[int, RunInfo] = {}
        for acceptance in acceptances:
            if acceptance.run_id in found:
                continue
            try:
                found[acceptance.run_id] = self.run(acceptance.run_id)
            except HistoryError as error:
                self._skip(f"acceptance #{acceptance.id} left out: {error}")
        return found

    def merge_acceptances(self, acceptances: Iterable[Acceptance]) -> int:
        """Add the acceptances this history lacks, of runs it holds (found by uuid: run ids
        are each database's own), in one transaction; returns how many were added."""
        added = 0
        with self._errors("write"), self._transaction():
            held = {acceptance.identity for acceptance in self.acceptances()}
            for acceptance in acceptances:
                row = self._connection.execute(
                    "SELECT id FROM runs WHERE uuid = ?", [acceptance.run_uuid]
                ).fetchone()
                if row is None or acceptance.identity in held:
                    continue
                self._connection.execute(
                    "INSERT INTO acceptances (run_id, pattern, reason, who, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        row[0],
                        acceptance.pattern,
                        acceptance.reason,
                        acceptance.who,
                        acceptance.created_at,
                    ],
                )
                held.add(acceptance.identity)
                added += 1
        return added

    # -- reading -----------------------------------------------------------------------------

    def runs(
        self,
        *,
        label: str | None = None,
        machine_fingerprint: str | None = None,
        baseline_only: bool = False,
        limit: int | None = None,
        ab: bool | None = None,
        ab_pair: str | None = None,
    ) -> list[RunInfo]:
        """Runs, newest first, optionally filtered. ``ab``: True for the runs of ``omniperf ab``
        jobs only, False for the others only; ``ab_pair``: the runs of that job."""
        clauses, params = [], []
        if ab is not None:
            clauses.append(f"ab_pair IS {'NOT ' if ab else ''}NULL")
        if ab_pair is not None:
            clauses.append("ab_pair = ?")
            params.append(ab_pair)
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
            for row in self._query(sql, params):
                if limit is not None and len(runs) >= limit:
                    break
                try:
                    runs.append(_run_from_row(row))
                except RecordError as error:
                    self._skip(f"run #{row['id']}: {error}")
        return runs

    def run(self, run_id: int) -> RunInfo:
        with self._errors("read"):
            row = next(self._query("SELECT * FROM runs WHERE id = ?", [run_id]), None)
        if row is None:
            raise HistoryError(f"no run {run_id} in {self.path} (see: omniperf runs)")
        try:
            return _run_from_row(row)
        except RecordError as error:
            raise HistoryError(f"run {run_id} in {self.path} cannot be read: {error}") from None

    def measurements(self, run_ids: Iterable[int]) -> dict[int, list[Measurement]]:
        """Measurements of the given runs, by run id, with their metrics (all in memory: over
        many runs, :meth:`measurements_by_run` holds one run's at a time)."""
        return dict(self.measurements_by_run(run_ids))

    def measurements_by_run(
        self, run_ids: Iterable[int]
    ) -> Iterator[tuple[int, list[Measurement]]]:
        """Each run id with its measurements, in the order given, read one run at a time."""
        for run_id in run_ids:
            yield run_id, self.run_measurements(run_id)

    def measurement_counts(self, run_ids: Iterable[int]) -> dict[int, int]:
        """How many measurements each run stored (bad rows included: nothing is decoded)."""
        ids = list(run_ids)
        counts = dict.fromkeys(ids, 0)
        with self._errors("read"):
            # one query per run: a list of ids could pass SQLite's limit on parameters
            for run_id in ids:
                row = self._connection.execute(
                    "SELECT count(*) FROM measurements WHERE run_id = ?", [run_id]
                ).fetchone()
                counts[run_id] = int(row[0])
        return counts

    def run_measurements(self, run_id: int) -> list[Measurement]:
        """One run's measurements with their metrics (bad rows skipped, see skipped_rows)."""
        found: list[Measurement] = []
        with self._errors("read"):
            metrics = self._run_metrics(run_id)
            for row in self._query(
                "SELECT * FROM measurements WHERE run_id = ? ORDER BY id", [run_id]
            ):
                try:
                    measurement = _measurement_from_row(row)
                except RecordError as error:
                    self._skip(f"run #{run_id}: measurement #{row['id']}: {error}")
                    continue
                measurement.metrics = metrics.get(row["id"], {})
                found.append(measurement)
        return found

    def _run_metrics(self, run_id: int) -> dict[int, dict[str, float]]:
        """The metrics of a run's measurements, by measurement id."""
        metrics: dict[int, dict[str, float]] = {}
        for row in self._query(
            "SELECT metrics.* FROM metrics JOIN measurements "
            "ON measurements.id = metrics.measurement_id WHERE measurements.run_id = ?",
            [run_id],
        ):
            value = as_float(row["value"], finite=False)
            if not isinstance(row["name"], str) or value is None:
                self._skip(
                    f"run #{run_id}: metric {shown(row['name'])} of measurement "
                    f"#{row['measurement_id']}: column value: expected a number, "
                    f"got {shown(row['value'])}"
                )
                continue
            metrics.setdefault(row["measurement_id"], {})[row["name"]] = value
        return metrics

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
            rows = self._query(
                f"SELECT * FROM measurements WHERE run_id IN ({marks}) ORDER BY id", ids
            )
            return [level for row in rows if (level := self._measured_level(row)) is not None]

    def _measured_level(self, row: dict[str, Any]) -> MeasuredLevel | None:
        level = _measured_level(row)
        if level is not None:
            return level
        try:  # not plainly good: the full checks say why, or let it pass
            measurement = _measurement_from_row(row)
        except RecordError as error:
            self._skip(f"run #{row['run_id']}: measurement #{row['id']}: {error}")
            return None
        return MeasuredLevel(
            row["run_id"],
            measurement.test_id,
            measurement.name,
            measurement.stats.get("p50"),
            measurement.stats.get("speedup"),
            measurement.samples_s,
            measurement.sequential_samples_s,
        )

    def _skip(self, line: str) -> None:
        self.skipped_rows[f"skipped a bad row of {self.path}: {line}"] = None


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
        if row[column] is not None or column not in _RUN_NULLABLE_JSON_COLUMNS:
            row[column] = json.dumps(row[column], sort_keys=True)
    return row


def _run_from_row(row: dict[str, Any]) -> RunInfo:
    """A runs row, checked; a RecordError names the column."""
    data = dict(row)
    try:
        for column in _RUN_JSON_COLUMNS:
            nullable = column in _RUN_NULLABLE_JSON_COLUMNS
            data[column] = _json_cell(data[column], column, nullable=nullable)
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
        "arms": json.dumps(measurement.arms),
        "metric_budgets": json.dumps(
            {name: bound.to_dict() for name, bound in measurement.metric_budgets.items()}
        ),
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
