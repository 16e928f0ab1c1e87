"""Helpers for realistic workloads in tests: simulated network latency for any async client
(an embedded Qdrant, an SDK) and an httpx transport that answers after a latency. Each module
imports its client library only when used."""
