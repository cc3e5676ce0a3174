"""The report's figures drawn into the page as inline SVG (the same matplotlib code as the report), cached by the
runs they show so that a board page is not redrawn for every visitor."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from pruningbench import plots
from pruningbench.leaderboard import TrackSummary
from pruningbench.record import RunRecord

__all__ = ["svg", "track_svg"]

_CACHE: dict[tuple, str] = {}
_LOCK = threading.Lock()  # matplotlib's pyplot state is not thread-safe
_CACHE_SIZE = 512


def _draw(draw: Callable[[Path], Path]) -> str:
    with tempfile.TemporaryDirectory() as folder:
        text = draw(Path(folder) / "figure.svg").read_text()
    return text[text.index("<svg") :]  # drop the XML prologue: the SVG is inlined in HTML


def svg(kind: str, records: list[RunRecord], title: str) -> str:
    """Figure ``kind`` (``accuracy_vs_speedup``, ``channel_profile``, ``accuracy_vs_params``) of ``records``."""
    key = (kind, title, tuple(sorted(record.run_id for record in records)))
    with _LOCK:
        if key not in _CACHE:
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.clear()
            _CACHE[key] = _draw(lambda path: getattr(plots, kind)(records, title, path))
        return _CACHE[key]


def track_svg(summary: TrackSummary) -> str:
    """The critical-difference diagram of a track."""
    key = ("cd", summary.track, tuple(summary.methods), tuple(summary.mean_ranks), summary.boards)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _draw(lambda path: plots.critical_difference(summary, path))
        return _CACHE[key]
