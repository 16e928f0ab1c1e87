"""Run history: the SQLite store, where a run happened, and comparison with a baseline."""
