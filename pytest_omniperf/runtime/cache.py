"""An async response cache: get-or-compute with TTL and LRU bounds on the loop clock, stable
keys from structured arguments, single-flight for concurrent misses, statistics, and optional
SQLite persistence.

Entries live in an ``OrderedDict`` (LRU order) with an expiry time each: that is a dozen lines,
and it lets evictions and expirations be counted apart, which a library cache (cachetools'
TLRUCache) would hide behind one ``popitem``. Exceptions are never cached: every caller waiting
on a failed computation gets the exception, and the next call computes again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from pytest_omniperf.runtime.trace import Recorder, Span, current_recorder, now

T = TypeVar("T")


def make_key(*parts: Any, **named: Any) -> str:
    """A stable key: SHA-256 of the canonical JSON of the arguments.

    Dict order, tuples versus lists and dataclass instances do not change the key, so two
    prompts with the same content hit the same entry.
    """
    try:
        canonical = "".join(_canonical_json({"args": parts, "kwargs": named}, 0))
    except RecursionError:
        # the encoder made once keeps no markers of what it is inside (they would outlive an
        # error): a value that contains itself ends here
        raise ValueError("cannot make a cache key from a value that contains itself") from None
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical_encoder() -> Callable[[Any, int], Iterable[str]]:
    """The JSON encoder of :func:`make_key`, made once: ``json.dumps`` with these options builds a
    new encoder on every call, which was half of a key's cost. The C encoder when the
    interpreter has it (CPython does), else the same encoder in Python."""
    options = {
        "sort_keys": True,
        "separators": (",", ":"),
        "ensure_ascii": False,
        "default": _jsonable,
    }
    c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_encoder is None:
        encoder = json.JSONEncoder(**options)  # type: ignore[arg-type]
        return lambda value, _level: encoder.iterencode(value)
    # the arguments json.JSONEncoder.iterencode passes it for these options, without the
    # markers of circular references
    encode: Callable[[Any, int], Iterable[str]] = c_encoder(
        None, _jsonable, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )
    return encode


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        return dump()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot make a cache key from {type(value).__name__} {value!r}")


_canonical_json = _canonical_encoder()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    """Concurrent misses for a key that waited for the one computation already running."""
    evictions: int = 0
    expirations: int = 0
    errors: int = 0
    cost_saved: float = 0.0

    @property
    def lookups(self) -> int:
        return self.hits + self.misses + self.coalesced

    @property
    def hit_rate(self) -> float:
        """Share of lookups answered without a computation of their own."""
        return (self.hits + self.coalesced) / self.lookups if self.lookups else 0.0


class ResponseCache:
    """See the module docstring. ``persist_path`` keeps entries in SQLite across restarts
    (values must then be JSON-serialisable; TTLs are kept in wall-clock time there)."""

    def __init__(
        self,
        *,
        max_entries: int = 1024,
        ttl_s: float | None = None,
        cost_per_call: float | None = None,
        persist_path: Path | str | None = None,
        recorder: Recorder | None = None,
        name: str = "cache",
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.cost_per_call = cost_per_call
        self.recorder = recorder
        self.name = name
        self.stats = CacheStats()
        self._entries: OrderedDict[str, tuple[Any, float]] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[Any]] = {}
        self._store = _Persistence(Path(persist_path)) if persist_path is not None else None
        if self._store is not None:
            for key, value, remaining_s in self._store.load():
                self._entries[key] = (
                    value,
                    now() + remaining_s if remaining_s is not None else float("inf"),
                )

    def __len__(self) -> int:
        return len(self._entries)

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[T]], *, cost: float | None = None
    ) -> T:
        """The cached value for ``key``, or ``await compute()`` stored under it."""
        recorder = self.recorder or current_recorder()
        clock = asyncio.get_running_loop().time
        started = clock()
        entry = self._entries.get(key)
        if entry is not None and started < entry[1]:  # a hit, the common case, inline
            self._entries.move_to_end(key)
            self.stats.hits += 1
            if cost is not None or self.cost_per_call:
                self._saved(cost)
            recorder.record(Span(self.name + ".hit", started, clock()))
            return entry[0]  # type: ignore[no-any-return]
        while True:
            found, value = self._lookup(key, started)
            if found:
                self.stats.hits += 1
                self._saved(cost)
                recorder.record(Span(f"{self.name}.hit", started, now()))
                return value  # type: ignore[no-any-return]
            running = self._in_flight.get(key)
            if running is None:
                return await self._compute(key, compute, recorder, started)
            try:
                value = await asyncio.shield(running)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if running.cancelled() and not (task and task.cancelling()):
                    continue  # the caller computing it was cancelled, not us: compute ourselves
                raise
            self.stats.coalesced += 1
            self._saved(cost)
            recorder.record(Span(f"{self.name}.coalesced", started, now()))
            return value  # type: ignore[no-any-return]

    async def _compute(
        self, key: str, compute: Callable[[], Awaitable[T]], recorder: Recorder, started: float
    ) -> T:
        self.stats.misses += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            value = await compute()
        except Exception as error:
            self.stats.errors += 1
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            recorder.record(
                Span(f"{self.name}.miss", started, now(), "error", type(error).__name__)
            )
            raise
        except BaseException:  # cancelled: waiters compute for themselves
            future.cancel()
            raise
        finally:
            del self._in_flight[key]
        future.set_result(value)
        self._store_value(key, value)
        recorder.record(Span(f"{self.name}.miss", started, now()))
        return value

    def cached(self, function: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """Decorate an async function: calls with equal arguments share one cached result."""

        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            key = make_key(function.__module__, function.__qualname__, *args, **kwargs)
            return await self.get_or_compute(key, lambda: function(*args, **kwargs))

        return wrapper

    def invalidate(self, key: str) -> None:
        self._entries.pop(key, None)
        if self._store is not None:
            self._store.delete(key)

    def invalidate_all(self) -> None:
        for key in list(self._entries):
            self.invalidate(key)

    def metrics(self) -> dict[str, float]:
        stats = self.stats
        figures = {
            f"{self.name}.hit_rate": stats.hit_rate,
            f"{self.name}.hits": float(stats.hits),
            f"{self.name}.misses": float(stats.misses),
            f"{self.name}.coalesced": float(stats.coalesced),
            f"{self.name}.evictions": float(stats.evictions),
            f"{self.name}.expirations": float(stats.expirations),
        }
        if self.cost_per_call is not None or stats.cost_saved:
            figures[f"{self.name}.cost_saved"] = stats.cost_saved
        return figures

    # -- internals ---------------------------------------------------------------------------

    def _lookup(self, key: str, moment: float) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        value, expires_at = entry
        if moment >= expires_at:
            del self._entries[key]
            self.stats.expirations += 1
            if self._store is not None:
                self._store.delete(key)
            return False, None
        self._entries.move_to_end(key)
        return True, value

    def _store_value(self, key: str, value: Any) -> None:
        expires_at = now() + self.ttl_s if self.ttl_s is not None else float("inf")
        self._entries[key] = (value, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            evicted, _ = self._entries.popitem(last=False)
            self.stats.evictions += 1
            if self._store is not None:
                self._store.delete(evicted)
        if self._store is not None:
            self._store.save(key, value, self.ttl_s)

    def _saved(self, cost: float | None) -> None:
        unit = cost if cost is not None else self.cost_per_call
        if unit:
            self.stats.cost_saved += unit


class _Persistence:
    """Entries in SQLite: key, JSON value, wall-clock expiry.

    Each operation opens and closes its own connection: a cache has no end of life a caller
    must remember to signal, so a connection held open would only be closed by the garbage
    collector (a ``ResourceWarning`` on Python 3.13). Writes happen on misses, which already
    cost a computation, so the extra open is noise next to them.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        with self._connection() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS entries "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL)"
            )

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self._path, timeout=5.0, isolation_level=None)) as connection:
            yield connection

    def load(self) -> list[tuple[str, Any, float | None]]:
        wall = time.time()
        with self._connection() as connection:
            connection.execute(
                "DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?", [wall]
            )
            rows = connection.execute(
                "SELECT key, value, expires_at FROM entries ORDER BY rowid"
            ).fetchall()
        return [
            (key, json.loads(value), None if expires_at is None else expires_at - wall)
            for key, value, expires_at in rows
        ]

    def save(self, key: str, value: Any, ttl_s: float | None) -> None:
        expires_at = time.time() + ttl_s if ttl_s is not None else None
        with self._connection() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO entries (key, value, expires_at) VALUES (?, ?, ?)",
                [key, json.dumps(value), expires_at],
            )

    def delete(self, key: str) -> None:
        with self._connection() as connection:
            connection.execute("DELETE FROM entries WHERE key = ?", [key])
