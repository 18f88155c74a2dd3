"""What the clients saw: latency and status of every request, per route, and what was written.

Latencies count from the moment the measured window opens (after the
warm-up); statuses and written rows count always, since the integrity checks
need every acknowledged write.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from uuid import UUID

MAX_SAMPLES = 10
"""Unexpected answers kept, per run, to show in the report."""


@dataclass
class Tally:
    """Requests per route: latencies (seconds) in the measured window, and every status."""

    measuring: bool = False
    window: float = 0.0
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    unexpected: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    """Answers with the expected status but the wrong content (every one is a failure)."""

    def record(
        self, route: str, status: int, seconds: float, expected: Collection[int], detail: str = ""
    ) -> bool:
        """Count one answer; False (and a sample kept) if its status was not expected."""
        if self.measuring:
            self.latencies[route].append(seconds)
        self.statuses[route][status] += 1
        if status in expected:
            return True
        if len(self.unexpected) < MAX_SAMPLES:
            self.unexpected.append(f"{route} -> {status or 'no answer'} {detail[:200]}")
        return False

    def wrong_answer(self, route: str, detail: str) -> None:
        """Count an answer whose content is not what the request asked for."""
        self.wrong.append(f"{route}: {detail[:200]}")

    def errors(self) -> Counter[int]:
        """Answers by status, for every status outside 2xx (0: no answer at all)."""
        out: Counter[int] = Counter()
        for counts in self.statuses.values():
            for status, n in counts.items():
                if not 200 <= status < 300:
                    out[status] += n
        return out

    def rows(self) -> list[tuple[str, int, float, float, float, float, float]]:
        """Per route: count, requests/s, p50, p95, p99 and max latency (ms) in the window."""
        rows = []
        for route, seconds in sorted(self.latencies.items()):
            ms = sorted(s * 1000 for s in seconds)
            cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
            rate = len(ms) / self.window if self.window else 0.0
            rows.append((route, len(ms), rate, cuts[49], cuts[94], cuts[98], ms[-1]))
        return rows


@dataclass
class Ledger:
    """Every message a client tried to post: acknowledged ones with their ids, and the rest."""

    acknowledged: dict[str, tuple[UUID, UUID]] = field(default_factory=dict)
    """Content → (message id, conversation id) for every 201."""
    unknown: set[str] = field(default_factory=set)
    """Contents whose post got no 201 (an error, no answer): stored at most once."""
