"""The dataset card (README.md): Hub YAML metadata plus what was exported, by which policy, from what."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import datasets
from huggingface_hub import DatasetCardData

from curation.export.formats import Format
from curation.export.select import Counts
from curation.export.write import DATA_DIR, SPLIT, Written

_RULES = {
    "duplicate": "listed twice by the server (kept once)",
    "discarded": "discarded by annotators",
    "too_few_submitted": "fewer submissions than required",
    "disagreement": "annotators disagreed",
    "tie": "ranking tied at the top or bottom",
    "missing_answer": "answer missing or empty",
}


@dataclass
class Tally:
    """Running totals over exported rows, for the card; bounded by distinct recipes and models."""

    recipes: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    unanimous: int = 0
    share_sum: float = 0.0

    def add(self, row: dict) -> None:
        self.recipes[row["recipe"] or "unknown"] += 1
        self.models[row["model"] or "unknown"] += 1
        self.unanimous += row["agreement"] == 1.0
        self.share_sum += row["agreement"]


@dataclass(frozen=True)
class Policy:
    agreement: str
    min_submitted: int


def metadata(fmt: Format, written: Written) -> DatasetCardData:
    """The YAML front matter `datasets` and the Hub read: configs, features, split sizes."""
    info = datasets.DatasetInfo(
        features=datasets.Features.from_arrow_schema(fmt.schema),
        splits=datasets.SplitDict(
            {SPLIT: datasets.SplitInfo(SPLIT, num_bytes=written.num_bytes, num_examples=written.num_examples)}
        ),
        download_size=written.download_size,
        dataset_size=written.num_bytes,
    )
    config = {
        "config_name": "default",
        "data_files": [{"split": SPLIT, "path": f"{DATA_DIR}/{SPLIT}-*"}],
        # `datasets` caches a local folder under a hash of this YAML, not of the files: naming the
        # content here makes `load_dataset(folder)` see a re-export instead of its old cache.
        "description": f"curate export, data sha256 {written.sha256[:16]}",
    }
    return DatasetCardData(
        configs=[config],
        dataset_info=info._to_yaml_dict(),  # the same serialization `push_to_hub` writes
        task_categories=[fmt.task],
        tags=["synthetic", "human-reviewed", "argilla", "distilabel", "curation", fmt.name],
    )


def render(
    *, source: str, fmt: Format, written: Written, counts: Counts, policy: Policy, tally: Tally, load_from: str
) -> str:
    """The whole README.md."""
    n = written.num_examples
    mean = tally.share_sum / n if n else 0.0
    dropped = [f"| {_RULES[rule]} (`{rule}`) | {count} |" for rule, count in counts.dropped().items()]
    columns = ", ".join(f"`{name}`" for name in fmt.schema.names)
    lines = [
        "---",
        metadata(fmt, written).to_yaml(),
        "---",
        f"# {source} ({fmt.name})",
        "",
        f"Human-validated records of the Argilla dataset `{source}`, exported by `curate export` "
        f"on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC in TRL's conversational "
        f"{'language-modeling' if fmt.name == 'sft' else 'preference'} format.",
        "",
        "## Load it",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset("{load_from}", split="{SPLIT}")',
        "```",
        "",
        f"Columns: {columns}.",
        "",
        "## Counts",
        "",
        "| | records |",
        "|---|---|",
        f"| in the Argilla dataset | {counts.seen} |",
        *dropped,
        f"| **exported** | **{n}** |",
        "",
        "## Selection policy",
        "",
        f"- At least **{policy.min_submitted}** submitted review(s) per record; drafts do not count.",
        f"- Agreement rule: **{policy.agreement}** ({_AGREEMENT_TEXT[policy.agreement]}).",
        _ANSWER_TEXT[fmt.name],
        "- Ties and missing answers are excluded, never guessed.",
        "",
        "## Agreement",
        "",
        f"- Mean share of annotators agreeing with the exported answer: {mean:.3f} (column `agreement`).",
        f"- Exported records on which every submitting annotator agreed: {tally.unanimous} of {n}.",
        "",
        "## Provenance",
        "",
        "| recipe | records |",
        "|---|---|",
        *[f"| {name} | {count} |" for name, count in tally.recipes.most_common()],
        "",
        "| model | records |",
        "|---|---|",
        *[f"| {name} | {count} |" for name, count in tally.models.most_common()],
        "",
        "Each row names its `batch_id`, `recipe`, `model`, Argilla `record_id` and `annotators`.",
        "",
    ]
    return "\n".join(lines)


_AGREEMENT_TEXT = {
    "majority": "the most common answer wins, a tie drops the record; a record discarded at least "
    "as often as it was submitted is dropped",
    "unanimous": "every submitting annotator gave the same answer; any discard drops the record",
    "any": "one submission validates a record; the most common usable answer wins, a tie drops it",
}
_ANSWER_TEXT = {
    "sft": "- The assistant message is the annotators' corrected response (question `response`); "
    "`edited` says whether it differs from the generated one.",
    "dpo": "- `chosen` is the best-ranked response and `rejected` the worst-ranked (question `ranking`, 1 = best).",
}
