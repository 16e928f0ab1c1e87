"""The history database schema and its forward migrations (imports neither pytest nor sqlite-utils).

The schema version is SQLite's ``user_version``. A database at a lower version is migrated
forward in one immediate transaction; one at a higher version was written by a newer release
and is refused, untouched.
"""

from __future__ import annotations

SCHEMA_VERSION = 5

# MIGRATIONS[n] takes a database from version n to n + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        label TEXT NOT NULL,
        git_commit TEXT,
        git_branch TEXT,
        git_dirty INTEGER,
        machine_fingerprint TEXT NOT NULL,
        machine TEXT NOT NULL,
        python TEXT NOT NULL,
        packages TEXT NOT NULL,
        ci_provider TEXT,
        ci_job TEXT,
        ci_url TEXT,
        gated INTEGER NOT NULL DEFAULT 0,
        regressed INTEGER NOT NULL DEFAULT 0,
        baseline_eligible INTEGER NOT NULL DEFAULT 1,
        exit_status INTEGER
    );
    CREATE INDEX runs_by_label ON runs (label, machine_fingerprint, started_at);
    CREATE TABLE measurements (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        test_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        mode TEXT NOT NULL,
        clock TEXT NOT NULL,
        unit TEXT NOT NULL,
        group_name TEXT,
        rounds INTEGER NOT NULL,
        warmup INTEGER NOT NULL,
        wall_s REAL NOT NULL,
        samples TEXT NOT NULL,
        sequential_samples TEXT NOT NULL,
        p50 REAL,
        p95 REAL,
        speedup REAL,
        stats TEXT NOT NULL,
        budgets TEXT NOT NULL,
        verdict TEXT NOT NULL,
        message TEXT NOT NULL,
        comparison TEXT
    );
    CREATE INDEX measurements_by_run ON measurements (run_id);
    CREATE INDEX measurements_by_key ON measurements (test_id, name);
    CREATE TABLE metrics (
        measurement_id INTEGER NOT NULL REFERENCES measurements (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (measurement_id, name)
    );
    """,
    # 2: each measurement keeps its test's regression rule (threshold, NULL: exempt), so a
    # later comparison (omniperf compare, the report) holds it to the same rule; runs stored
    # before had the default
    """
    ALTER TABLE measurements ADD COLUMN regression REAL;
    UPDATE measurements SET regression = 0.1;
    """,
    # 3: acceptances of intended changes (omniperf accept): run_id is the accepted level of the
    # measurements matching pattern; removing the run removes its acceptances
    """
    CREATE TABLE acceptances (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        pattern TEXT NOT NULL,
        reason TEXT NOT NULL,
        who TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX acceptances_by_run ON acceptances (run_id);
    """,
    # 4: the names of a speedup's two arms (sequential/parallel, or the variants compared) and
    # the bounds of metric and memory budgets; speedups stored before had sequential/parallel
    """
    ALTER TABLE measurements ADD COLUMN arms TEXT NOT NULL DEFAULT '[]';
    UPDATE measurements SET arms = '["sequential", "parallel"]' WHERE kind = 'speedup';
    ALTER TABLE measurements ADD COLUMN metric_budgets TEXT NOT NULL DEFAULT '{}';
    """,
    # 5: the two runs of an omniperf ab job, linked: ab_pair a uuid both runs hold, ab_side
    # 'base' or 'head'; the head run keeps the job's record (revisions, pairs per test, the
    # per-pair log-ratios, tests added, removed or left unmeasured) in ab_job as JSON. Runs of
    # earlier versions are no A/B runs (all three NULL)
    """
    ALTER TABLE runs ADD COLUMN ab_pair TEXT;
    ALTER TABLE runs ADD COLUMN ab_side TEXT;
    ALTER TABLE runs ADD COLUMN ab_job TEXT;
    CREATE INDEX runs_by_ab_pair ON runs (ab_pair);
    """,
)

assert len(MIGRATIONS) == SCHEMA_VERSION

# Tables every version has: a database whose user_version says "ours" but that lacks them is
# another application's (user_version is a field any application may use). A table added by a
# later migration is not listed: an older history lacks it until it is migrated.
TABLES = ("runs", "measurements", "metrics")
