"""Review priority: a score in [0, 1] per record, higher = review first (metadata `review_priority`).

Each mode is a weighted mean of components that each lie in [0, 1]; the weights come from the
dataset config's `priority:` block (DEFAULT_WEIGHTS when it has none), and a component that
cannot be computed for a record is left out of both the sum and the total weight.

`judge-uncertainty` (preference): how little the judge separates the candidates.
- `closeness`: 1 - (best rating - worst rating) / (scale max - scale min), over the ratings that
  parsed; 1 when fewer than two parsed.
- `tie`: 1 when no single candidate holds the best rating (a tie for first, or fewer than two
  ratings parsed), else 0.
- `unparsed`: the share of the record's candidates whose rating is missing (the judge's output
  did not parse).
- `contradiction`: 1 when a rationale states a score that differs from the rating parsed for
  the same candidate ("3/5", "3 out of 5" on the rating scale, "rating: 3", "score = 3"), else 0.
  Only stated numbers are checked: a rationale whose words disagree with its rating is not detected.

`deita` (sft): low Deita scores and closeness to an already-rejected record.
- `low_quality`, `low_complexity`: 1 - (score - 1) / 5 for Deita's 1-6 scores, when the row has them.
- `near_rejected`: with `--against DATASET`, the highest MinHash-estimated Jaccard similarity
  (curation/dedup.py's shingles and signatures, over the instruction) between the row and a
  record of DATASET that an annotator discarded.

`none`: no score; records carry no `review_priority`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from curation import contract as c
from curation.errors import BadInput

JUDGE_UNCERTAINTY = "judge-uncertainty"
DEITA = "deita"
NONE = "none"
MODES = (JUDGE_UNCERTAINTY, DEITA, NONE)
# The kind of batch each scoring mode reads.
MODE_KIND = {JUDGE_UNCERTAINTY: "preference", DEITA: "sft"}
DEFAULT_WEIGHTS = {
    JUDGE_UNCERTAINTY: {"closeness": 0.5, "tie": 0.2, "unparsed": 0.2, "contradiction": 0.1},
    DEITA: {"low_quality": 0.4, "low_complexity": 0.2, "near_rejected": 0.4},
}
DEITA_MIN, DEITA_MAX = 1.0, 6.0
# The review queue's bands (README "Review priority"; the search engine's PRIORITY_BANDS): a record's
# band is floor(priority * 4), so the top band holds priorities from TOP_BAND to 1. The default
# `--adaptive-threshold`: the top band's records are the ones that get more annotators.
PRIORITY_BANDS = 4
TOP_BAND = 1 - 1 / PRIORITY_BANDS
# Scores a rationale states: "3/5", "3 out of 5" (the denominator must be the scale's top), "rating: 3".
_OUT_OF = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)(?![\d.])", re.IGNORECASE)
_STATED = re.compile(r"\b(?:rating|score)\s*(?:of|is|[:=])\s*(\d+(?:\.\d+)?)(?![\d.])", re.IGNORECASE)


def check_mode(mode: str | None) -> str | None:
    """`mode` if it names a priority (None: choose by the batch); raises BadInput otherwise."""
    if mode is None or mode in MODES:
        return mode
    raise BadInput(f"unknown --priority {mode!r}", hint=f"choose one of {', '.join(MODES)}; nothing was pushed")


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _weighted(components: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """The weighted mean of the components that have a value (and a weight); None when none has."""
    present = {k: v for k, v in components.items() if v is not None and weights.get(k, 0) > 0}
    total = sum(weights[k] for k in present)
    if not total:
        return None
    return min(1.0, max(0.0, sum(weights[k] * v for k, v in present.items()) / total))


def judge_components(ratings: list, rationales: list, candidates: int, scale: tuple[float, float]) -> dict[str, float]:
    """The judge-uncertainty components of one preference row (see the module docstring)."""
    low, high = scale
    ratings = list(ratings or [])[:candidates] + [None] * max(0, candidates - len(ratings or []))
    parsed = [(i, r) for i, r in enumerate(_number(r) for r in ratings) if r is not None]
    values = [r for _, r in parsed]
    if len(values) >= 2:
        closeness = 1.0 - (max(values) - min(values)) / (high - low)
        tie = 1.0 if values.count(max(values)) > 1 else 0.0
    else:
        closeness, tie = 1.0, 1.0
    unparsed = (candidates - len(values)) / candidates if candidates else 1.0
    contradiction = 0.0
    for i, rating in parsed:
        text = rationales[i] if i < len(rationales or []) else None
        if isinstance(text, str) and any(stated != rating for stated in _stated_scores(text, high)):
            contradiction = 1.0
    return {"closeness": min(1.0, max(0.0, closeness)), "tie": tie, "unparsed": unparsed,
            "contradiction": contradiction}


def _stated_scores(text: str, top: float) -> list[float]:
    """The scores a rationale states for its own candidate, on a scale topping at `top`."""
    stated = [float(m.group(1)) for m in _OUT_OF.finditer(text) if float(m.group(2)) == top]
    return stated + [float(m.group(1)) for m in _STATED.finditer(text)]


def deita_components(row: dict, near_rejected: float | None = None) -> dict[str, float | None]:
    """The deita components of one sft row (see the module docstring)."""
    def low(score) -> float | None:
        score = _number(score)
        if score is None:
            return None
        return 1.0 - min(1.0, max(0.0, (score - DEITA_MIN) / (DEITA_MAX - DEITA_MIN)))

    return {"low_quality": low(row.get(c.COL_QUALITY_SCORE)), "low_complexity": low(row.get(c.COL_COMPLEXITY_SCORE)),
            "near_rejected": near_rejected}


def has_deita_scores(rows: Iterable[dict]) -> bool:
    return any(_number(r.get(c.COL_QUALITY_SCORE)) is not None or _number(r.get(c.COL_COMPLEXITY_SCORE)) is not None
               for r in rows)


def check_fits_kind(asked: str | None, kind: str, against: str | None) -> None:
    """Refuse a --priority (or an --against) that cannot score batches of `kind`; what `curate run`
    checks before generating, knowing only its recipe's kind. `asked` None: the default fits."""
    if asked is None:
        asked = JUDGE_UNCERTAINTY if kind == "preference" else DEITA if against else NONE
    if asked != NONE and MODE_KIND[asked] != kind:
        raise BadInput(f"--priority {asked} scores {MODE_KIND[asked]} batches, and this batch is {kind}",
                       hint="pass --priority none or the mode for the batch's kind; nothing was pushed")
    if against and asked != DEITA:
        raise BadInput(f"--against is used by --priority deita, not {asked}",
                       hint="leave out --against, or score an sft batch with --priority deita")


def choose_mode(asked: str | None, kind: str, rows: list[dict], against: str | None) -> str:
    """The mode to score with: `asked`, else judge-uncertainty for preference, deita for sft with
    Deita scores (or `against`), none otherwise. Raises BadInput when `asked` does not fit the batch."""
    asked = check_mode(asked)
    if asked is None:
        if kind == "preference":
            asked = JUDGE_UNCERTAINTY
        else:
            asked = DEITA if against or has_deita_scores(rows) else NONE
    check_fits_kind(asked, kind, against)
    if asked == DEITA and not against and not has_deita_scores(rows):
        raise BadInput("--priority deita needs the batch's Deita scores or --against DATASET, and the batch has no scores",
                       hint="score it first (`curate select`), pass --against, or use --priority none")
    return asked


@dataclass(frozen=True)
class Priorities:
    """The mode used and each row's score (None: no score)."""

    mode: str
    scores: list[float | None]


def score_rows(mode: str, kind: str, rows: list[dict], weights: dict[str, float], *,
               candidates: int | None = None, scale: tuple[float, float] = (1, 5),
               rejected_texts: list[str] | None = None) -> Priorities:
    """Each row's review priority under `mode` (see the module docstring), rounded to 4 places."""
    if mode == NONE:
        return Priorities(mode, [None] * len(rows))
    if mode == JUDGE_UNCERTAINTY:
        scores = [_weighted(judge_components(row.get(c.COL_RATINGS) or [], row.get(c.COL_RATIONALES) or [],
                                             candidates or len(row.get(c.COL_GENERATIONS) or []), scale), weights)
                  for row in rows]
    else:
        near = nearest_similarity([row.get(c.COL_INSTRUCTION) or "" for row in rows], rejected_texts) \
            if rejected_texts is not None else [None] * len(rows)
        scores = [_weighted(deita_components(row, n), weights) for row, n in zip(rows, near)]
    return Priorities(mode, [None if s is None else round(s, 4) for s in scores])


def nearest_similarity(texts: list[str], others: list[str]) -> list[float]:
    """For each text, its highest MinHash-estimated Jaccard similarity to any of `others` (0 when none)."""
    from curation.dedup import signatures

    if not texts:
        return []
    if not others:
        return [0.0] * len(texts)
    theirs = signatures(others)
    best = []
    for start in range(0, len(texts), 256):  # bounded memory: 256 x len(others) x 128 bytes at a time
        ours = signatures(texts[start:start + 256])
        best.extend((ours[:, None, :] == theirs[None, :, :]).mean(axis=2).max(axis=1).tolist())
    return [float(b) for b in best]


def against_dataset(client, name: str, workspace: str | None):
    """The --against dataset: `name` in the push's `workspace` when it is there (so a name that several
    workspaces hold is not ambiguous), else wherever it is; BadInput when it is nowhere or ambiguous."""
    from curation.argilla.datasets import find_dataset, require_dataset

    if workspace is not None:
        try:
            beside = find_dataset(client, name, workspace)
        except BadInput:  # the push's workspace does not exist yet
            beside = None
        if beside is not None:
            return beside
    return require_dataset(client, name, None)


def rejected_texts(client, name: str, workspace: str | None) -> list[str]:
    """The instructions of dataset `name`'s records an annotator discarded (`against_dataset` finds it)."""
    from curation.argilla.records import iter_reviewed
    from curation.dedup import record_text

    dataset = against_dataset(client, name, workspace)
    return [record_text(r.fields) for r in iter_reviewed(client, dataset.id) if r.discards]


def annotation_link(base_url: str, dataset) -> str:
    """The dataset's annotation page; sorted by `review_priority` descending when the dataset has it.

    `sort=metadata.<name>.desc` is the Argilla 2.8 UI's own route query (its SortCriteria parses
    `entity.name.order` and sends `{scope: {entity: metadata, metadata_property: name}, order}`)."""
    url = f"{base_url}/dataset/{dataset.id}/annotation-mode"
    if any(m.name == c.META_REVIEW_PRIORITY for m in dataset.settings.metadata):
        url += f"?sort=metadata.{c.META_REVIEW_PRIORITY}.desc"
    return url
