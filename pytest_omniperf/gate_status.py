"""Whether ``--omniperf-gate`` could do its job in this run, and why not.

A gate that compared nothing lets every regression through while CI stays green; that must be
said where people look (the terminal summary, also under ``-q``, and the JSON and Markdown
outputs), never left to be inferred from verdicts that all read ``new``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class GateStatus:
    requested: bool
    effective: bool
    reason: str | None = None
    """Why the gate could not gate; None when it did (or was not asked for)."""

    @classmethod
    def not_requested(cls) -> GateStatus:
        return cls(requested=False, effective=False)

    @classmethod
    def ineffective(cls, reason: str) -> GateStatus:
        return cls(requested=True, effective=False, reason=reason)

    @property
    def warning(self) -> str | None:
        """The one-line warning, when the gate was asked for and could not gate."""
        if not self.requested or self.effective:
            return None
        return f"WARNING: --omniperf-gate did not gate anything: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
