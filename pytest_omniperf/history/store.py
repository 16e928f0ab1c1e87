"""The history database: runs and their measurements in SQLite, through sqlite-utils.

Safe on shared CI runners and with parallel jobs: WAL journaling, a busy timeout, and every run
written in one ``BEGIN IMMEDIATE`` transaction, so a run is either wholly there or absent (also
after SIGKILL). A database that is corrupt, locked past the timeout, read-only, or written by a
newer release raises :class:`HistoryError` with one line naming the file, and is left untouched.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.history.schema import MIGRATIONS, SCHEMA_VERSION
from pytest_omniperf.measurement import Measurement

DEFAULT_BUSY_TIMEOUT_S = 5.0
EXPORT_FORMAT = "pytest-omniperf-history"

_RUN_JSON_COLUMNS = ("machine", "packages")
_RUN_BOOL_COLUMNS = ("git_dirty", "gated", "regressed", "baseline_eligible")


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
            self._connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"history database {self.path} has schema version {version}, newer than this "
                f"pytest-omniperf understands ({SCHEMA_VERSION}): upgrade pytest-omniperf or use "
                "another --omniperf-history; the file was left untouched"
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
            run_id = self._db.table("runs").insert(_run_row(run)).last_pk
            assert isinstance(run_id, int)
            measurements_table = self._db.table("measurements")
            for measurement in measurements:
                row = _measurement_row(run_id, measurement)
                measurement_id = measurements_table.insert(row).last_pk
                if measurement.metrics:
                    self._db.table("metrics").insert_all(
                        {"measurement_id": measurement_id, "name": name, "value": float(value)}
                        for name, value in measurement.metrics.items()
                    )
        run.id = run_id
        return run_id

    def merge_from(self, runs: Iterable[tuple[RunInfo, list[Measurement]]]) -> int:
        """Add runs not yet present (by uuid); returns how many were added."""
        added = 0
        for run, measurements in runs:
            with self._errors("read"):
                present = self._db.execute(
                    "SELECT 1 FROM runs WHERE uuid = ?", [run.uuid]
                ).fetchone()
            if present:
                continue
            run.id = None
            self.save_run(run, measurements)
            added += 1
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
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._errors("read"):
            return [_run_from_row(row) for row in self._db.query(sql, params)]

    def run(self, run_id: int) -> RunInfo:
        with self._errors("read"):
            rows = list(self._db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise HistoryError(f"no run {run_id} in {self.path} (see: omniperf runs)")
        return _run_from_row(rows[0])

    def measurements(self, run_ids: Iterable[int]) -> dict[int, list[Measurement]]:
        """Measurements of the given runs, by run id, with their metrics."""
        ids = list(run_ids)
        found: dict[int, list[Measurement]] = {run_id: [] for run_id in ids}
        if not ids:
            return found
        marks = ",".join("?" * len(ids))
        with self._errors("read"):
            metrics: dict[int, dict[str, float]] = {}
            for row in self._db.query(
                f"SELECT metrics.* FROM metrics JOIN measurements ON measurements.id = "
                f"metrics.measurement_id WHERE measurements.run_id IN ({marks})",
                ids,
            ):
                metrics.setdefault(row["measurement_id"], {})[row["name"]] = row["value"]
            for row in self._db.query(
                f"SELECT * FROM measurements WHERE run_id IN ({marks}) ORDER BY id", ids
            ):
                measurement = _measurement_from_row(row)
                measurement.metrics = metrics.get(row["id"], {})
                found[row["run_id"]].append(measurement)
        return found

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
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise HistoryError(f"cannot read {path}: {error}") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise HistoryError(f"{path} is not a pytest-omniperf history export")
    return [
        (
            RunInfo.from_dict(entry["run"]),
            [Measurement.from_dict(item) for item in entry["measurements"]],
        )
        for entry in document["runs"]
    ]


# -- rows --------------------------------------------------------------------------------------


def _run_row(run: RunInfo) -> dict[str, Any]:
    row = run.to_dict()
    row.pop("id")
    for column in _RUN_JSON_COLUMNS:
        row[column] = json.dumps(row[column], sort_keys=True)
    return row


def _run_from_row(row: dict[str, Any]) -> RunInfo:
    data = dict(row)
    for column in _RUN_JSON_COLUMNS:
        data[column] = json.loads(data[column])
    for column in _RUN_BOOL_COLUMNS:
        if data[column] is not None:
            data[column] = bool(data[column])
    return RunInfo.from_dict(data)


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
        "comparison": json.dumps(measurement.comparison) if measurement.comparison else None,
    }


def _measurement_from_row(row: dict[str, Any]) -> Measurement:
    return Measurement(
        test_id=row["test_id"],
        name=row["name"],
        kind=row["kind"],
        clock=row["clock"],
        rounds=row["rounds"],
        warmup=row["warmup"],
        samples_s=json.loads(row["samples"]),
        sequential_samples_s=json.loads(row["sequential_samples"]),
        wall_s=row["wall_s"],
        group=row["group_name"],
        unit=row["unit"],
        budgets=json.loads(row["budgets"]),
        stats=json.loads(row["stats"]),
        verdict=row["verdict"],
        message=row["message"],
        comparison=json.loads(row["comparison"]) if row["comparison"] else None,
    )
