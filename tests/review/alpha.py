"""Krippendorff's alpha from first principles (coincidence matrix), to check `curate status`."""

from __future__ import annotations


def expected_alpha(units: list[list], level: str) -> float:
    """Alpha of `units` (each the values two or more annotators gave one record); nominal or ordinal."""
    values = sorted({v for unit in units for v in unit}, key=str if level == "nominal" else float)
    index = {v: i for i, v in enumerate(values)}
    k = len(values)
    coincidences = [[0.0] * k for _ in range(k)]
    for unit in units:
        m = len(unit)
        for a in range(m):
            for b in range(m):
                if a != b:
                    coincidences[index[unit[a]]][index[unit[b]]] += 1 / (m - 1)
    totals = [sum(row) for row in coincidences]
    n = sum(totals)

    def delta(c: int, d: int) -> float:
        if level == "nominal":
            return 0.0 if c == d else 1.0
        low, high = min(c, d), max(c, d)  # ordinal: ranks by cumulative frequency
        return (sum(totals[low : high + 1]) - (totals[low] + totals[high]) / 2) ** 2

    observed = sum(coincidences[c][d] * delta(c, d) for c in range(k) for d in range(k)) / n
    expected = sum(totals[c] * totals[d] * delta(c, d) for c in range(k) for d in range(k)) / (n * (n - 1))
    return 1 - observed / expected
