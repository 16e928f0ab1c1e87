"""Helpers for realistic workloads in tests: simulated network latency for any async client
(``latency``: needs no extra; an embedded Qdrant needs ``pytest-omniperf[qdrant]``) and an httpx
transport that answers after a latency (``http``: needs ``pytest-omniperf[http]``, and says so in
one line when httpx is missing)."""
