"""How fair a proposal is to its weakest pairs: the figures the committee compares proposals by.

Pure: works on a matching.Proposal's pair scores. The lowest pair score, how
many pairs fall below the committee's threshold (default 50), and the scores
in bands of ten for a small chart (the last band, 90-100, takes 100 too).
"""
from __future__ import annotations

from collections.abc import Iterable

from chalicelib.domain.refusals import Invalid

DEFAULT_THRESHOLD = 50
BAND_WIDTH = 10


def threshold_of(value) -> int:
    """The committee's threshold as a whole score 0-100 (the default when not given)."""
    if value in (None, ""):
        return DEFAULT_THRESHOLD
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise Invalid("The threshold is a whole score from 0 to 100.", field="threshold")
    return value


def summary(scores: Iterable[int], threshold: int = DEFAULT_THRESHOLD) -> dict:
    """{"matched", "total", "lowest" (None without pairs), "threshold", "below_threshold", "distribution"}."""
    scores = list(scores)
    counts = [0] * (100 // BAND_WIDTH)
    for score in scores:
        counts[min(score // BAND_WIDTH, len(counts) - 1)] += 1
    return {
        "matched": len(scores),
        "total": sum(scores),
        "lowest": min(scores, default=None),
        "threshold": threshold,
        "below_threshold": sum(1 for score in scores if score < threshold),
        "distribution": [{"from": band * BAND_WIDTH, "to": 100 if band == len(counts) - 1 else band * BAND_WIDTH + 9,
                          "count": count} for band, count in enumerate(counts)],
    }
