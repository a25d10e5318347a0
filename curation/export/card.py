"""The dataset card (README.md): Hub YAML metadata plus what was exported, by which policy, from what."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field

import datasets
from huggingface_hub import DatasetCardData

from curation import contract as c
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
    "contaminated": "shares words with a benchmark",
}


# Names on the card come from the server (dataset names, record metadata such as `batch_id`,
# models) and the batch manifests: any of them may hold a newline or Markdown. Each goes
# through one of these, so none can open a heading, a list or a table row of its own.
_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")  # newlines, tabs and other controls: one space
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|!~&])")


def md_text(value) -> str:
    """`value` as Markdown text on one line, its punctuation shown as written (backslash-escaped)."""
    return _MARKDOWN.sub(r"\\\1", _SPACES.sub(" ", str(value)).strip())


def md_code(value, *, in_table: bool = False) -> str:
    """`value` as an inline code span on one line, whatever backticks it holds."""
    text = _SPACES.sub(" ", str(value)).strip()
    if in_table:  # GFM splits a table row at every unescaped pipe, code spans included
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


@dataclass
class Tally:
    """Running totals over exported rows, for the card; bounded by distinct recipes, models and batches."""

    recipes: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    batches: Counter = field(default_factory=Counter)
    origins: Counter = field(default_factory=Counter)  # (chosen origin, rejected origin) of dpo rows
    unanimous: int = 0
    share_sum: float = 0.0
    _candidates: dict = field(default_factory=dict, repr=False)

    def add(self, row: dict) -> None:
        self.recipes[row[c.META_RECIPE] or "unknown"] += 1
        self.models[row[c.META_MODEL] or "unknown"] += 1
        self.batches[row[c.META_BATCH_ID] or ""] += 1
        self.unanimous += row["agreement"] == 1.0
        self.share_sum += row["agreement"]
        if "chosen" in row and row[c.META_BATCH_ID]:
            pair = self._origin_pair(row)
            if pair is not None:
                self.origins[pair] += 1

    def _origin_pair(self, row: dict) -> tuple[str, str] | None:
        """Where the chosen and rejected responses came from (original/evolved), from the batch on this machine."""
        batch_id = row[c.META_BATCH_ID]
        if batch_id not in self._candidates:
            self._candidates[batch_id] = _candidate_origins(batch_id)
        by_index = self._candidates[batch_id]
        # `<batch id>:<row>` (`curate push`); a `curate watch` record's id names its source record instead
        record_id, prefix = str(row[c.EXPORT_RECORD_ID]), f"{batch_id}:"
        index = record_id[len(prefix):] if record_id.startswith(prefix) else ""
        if not by_index or not index.isdigit() or int(index) not in by_index:
            return None
        origin = dict(by_index[int(index)])
        chosen, rejected = (origin.get(row[k][0]["content"]) for k in ("chosen", "rejected"))
        return (chosen, rejected) if chosen and rejected else None


def _candidate_origins(batch_id: str) -> dict[int, list[tuple[str, str]]] | None:
    """row index -> [(response text, origin)] of a batch on this machine whose rows record origins."""
    from curation.batch import find_batch

    batch = find_batch(batch_id)
    if batch is None:
        return None
    rows = batch.rows()
    if not rows or c.COL_CANDIDATE_ORIGIN not in rows[0]:
        return None
    return {i: list(zip(r.get(c.COL_GENERATIONS) or [], r.get(c.COL_CANDIDATE_ORIGIN) or []))
            for i, r in enumerate(rows)}


def chains(batch_ids) -> list[tuple[str, str]]:
    """(batch id, the chain of recipes its rows went through, root first) from the manifests on this machine.

    A reviewed dataset that seeded a batch (`--seeds argilla:`) is named in the chain, with the
    records its review admitted; each batch behind it starts its own branch (joined by "+").
    """
    from curation.batch import chain_text, find_batch, lineage, step_label

    def label(step: dict) -> str:
        if step.get("dataset") is not None:
            return (f"Argilla dataset {md_code(step['dataset'], in_table=True)} "
                    f"({md_text(step['rows'])} admitted)")
        text = md_text(step_label(step))
        if not step["starts_branch"]:
            return text
        if not step["found"]:
            return "(earlier batches not on this machine) → " + text
        if step.get("seed_file"):
            return f"seed file {md_code(step['seed_file'], in_table=True)} → " + text
        return text

    out = []
    for batch_id in sorted(b for b in batch_ids if b):
        batch = find_batch(batch_id)
        if batch is None:
            out.append((batch_id, "(batch not on this machine)"))
            continue
        out.append((batch_id, chain_text(lineage(batch), label)))
    return out


@dataclass(frozen=True)
class Policy:
    agreement: str
    min_submitted: int
    overlap_parts: tuple[tuple[str, int], ...] = ()  # (sibling, its min_submitted): `--overlap-policy adaptive`


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
    *, source: str, fmt: Format, written: Written, counts: Counts, policy: Policy, tally: Tally, load_from: str,
    contamination=None,
) -> str:
    """The whole README.md. `contamination`: the export's ContaminationGate (`--decontaminate`), if any."""
    n = written.num_examples
    mean = tally.share_sum / n if n else 0.0
    dropped = [f"| {_RULES[rule]} (`{rule}`) | {count} |" for rule, count in counts.dropped().items()
               if rule != "contaminated" or contamination is not None]
    columns = ", ".join(f"`{name}`" for name in fmt.schema.names)
    lines = [
        "---",
        metadata(fmt, written).to_yaml(),
        "---",
        f"# {md_text(source)} ({fmt.name})",
        "",
        f"Human-validated records of the Argilla dataset {md_code(source)}, exported by `curate export` "
        f"on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC in TRL's conversational "
        f"{'language-modeling' if fmt.name == 'sft' else 'preference'} format.",
        "",
        "## Load it",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset({json.dumps(load_from, ensure_ascii=False)}, split="{SPLIT}")',  # a Python string literal, escapes and all
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
        *_adjudicated_rows(counts),
        "",
        "## Selection policy",
        "",
        f"- At least **{policy.min_submitted}** submitted review(s) per record; drafts do not count.",
        *(f"- Records of its overlap part {md_code(part)} (adaptive overlap): at least **{n}**."
          for part, n in policy.overlap_parts),
        f"- Agreement rule: **{policy.agreement}** ({_AGREEMENT_TEXT[policy.agreement]}).",
        _ANSWER_TEXT[fmt.name],
        "- Ties and missing answers are excluded, never guessed.",
        *_adjudicated_policy(counts),
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
        *[f"| {md_text(name)} | {count} |" for name, count in tally.recipes.most_common()],
        "",
        "| model | records |",
        "|---|---|",
        *[f"| {md_text(name)} | {count} |" for name, count in tally.models.most_common()],
        "",
        "Each row names its `batch_id`, `recipe`, `model`, Argilla `record_id` and `annotators`.",
        "",
        *_chain_section(tally),
        *_examples_section(tally),
        *_dedup_section(tally),
        *_decontamination_section(tally),
        *(contamination.card_lines() if contamination is not None else []),
        *_selection_section(tally),
        *_cost_section(tally),
    ]
    return "\n".join(lines)


def _adjudicated_rows(counts: Counts) -> list[str]:
    """The exported records whose answer a reviewer gave (`curate adjudicate`), when there are any."""
    return [f"| of which settled by adjudication | {counts.adjudicated} |"] if counts.adjudicated else []


def _adjudicated_policy(counts: Counts) -> list[str]:
    if not counts.adjudicated:
        return []
    return ["- Records whose annotators disagreed and a reviewer settled (`curate adjudicate`) take the reviewer's "
            "answer before the agreement rule; `agreement` is then the share of annotators who gave it too."]


def _decontamination_section(tally: Tally) -> list[str]:
    """Benchmarks `curate decontaminate` checked the rows against: hash or revision, rows dropped for each."""
    from curation.decontaminate import card_lines

    return card_lines(tally.batches)


def _cost_section(tally: Tally) -> list[str]:
    """Tokens and dollars of each generation behind the exported batches (their manifests' `cost`)."""
    from curation.cost import card_lines

    return card_lines(tally.batches)


def _selection_section(tally: Tally) -> list[str]:
    """Deita selection behind the exported batches: "kept K of N" and the threshold."""
    from curation.deita_select import card_lines

    return card_lines(tally.batches)


def dedup_counts(batch_ids) -> list[tuple[str, dict]]:
    """(batch id, its manifest's `dedup` counts) of each `curate dedup` batch behind `batch_ids`
    (the batches themselves or their ancestors), from the manifests on this machine."""
    from curation.batch import find_batch, lineage

    found: dict[str, dict] = {}
    for batch_id in sorted(b for b in batch_ids if b):
        batch = find_batch(batch_id)
        for step in lineage(batch) if batch is not None else []:
            if step["derived_by"] == "dedup" and step["found"] and step["batch_id"] not in found:
                child = find_batch(step["batch_id"], hint_path=step["path"])
                if child is not None and isinstance(child.manifest.get("dedup"), dict):
                    found[step["batch_id"]] = child.manifest["dedup"]
    return sorted(found.items())


def _dedup_section(tally: Tally) -> list[str]:
    """Near-duplicates `curate dedup` removed before the rows reached annotators."""
    found = dedup_counts(tally.batches)
    if not found:
        return []
    return [
        "## Near-duplicates removed before review",
        "",
        "MinHash similarity of the instructions at least the threshold (`curate dedup`); the dropped rows "
        "are in each batch folder's `dropped.parquet`.",
        "",
        "| batch | threshold | within the batch | already in a dataset | removed |",
        "|---|---|---|---|---|",
        *[f"| {md_text(batch_id)} | {md_text(d.get('threshold'))} | {md_text(d.get('within_batch'))} "
          f"| {md_text(d.get('against_dataset'))} | {md_text(d.get('removed'))} |" for batch_id, d in found],
        "",
    ]


def _chain_section(tally: Tally) -> list[str]:
    """The recipes each row went through (a batch made from another batch names it as its parent)."""
    found = chains(tally.batches)
    if not found:
        return []
    lines = [
        "## Chain of recipes",
        "",
        "Read from the batch manifests on the machine that exported (each batch names its parent batch).",
        "",
        "| batch | chain (first recipe first) | records |",
        "|---|---|---|",
        *[f"| {md_text(batch_id)} | {text} | {tally.batches[batch_id]} |" for batch_id, text in found],
        "",
    ]
    if tally.origins:
        lines += [
            "Origin of the responses annotators preferred (`original` as generated, `evolved` rewritten by "
            "evol-quality):",
            "",
            "| chosen | rejected | records |",
            "|---|---|---|",
            *[f"| {md_text(chosen)} | {md_text(rejected)} | {n} |" for (chosen, rejected), n in tally.origins.most_common()],
            "",
        ]
    return lines


def _examples_section(tally: Tally) -> list[str]:
    """The reviewed records shown as worked examples, per batch that had them: accepted records in the
    generating prompts (`--examples`), the judge's corrections in its prompt (`--judge-examples`)."""
    from curation.batch import find_batch

    found: dict[str, list[str]] = {"examples": [], "judge_examples": []}
    for batch_id in sorted(b for b in tally.batches if b):
        batch = find_batch(batch_id)
        for key, lines in found.items():
            entry = batch.manifest.get(key) if batch is not None else None
            if entry:
                ids = ", ".join(md_code(rid, in_table=True) for rid in entry.get("record_ids") or [])
                lines.append(f"| {md_text(batch_id)} | {md_code(entry.get('dataset'), in_table=True)} | {ids} |")
    out = []
    for key, title, text in (
        ("examples", "Worked examples", "Accepted records of an earlier review put into the generating prompts "
                                        "(`--examples`); they are not rows of this dataset."),
        ("judge_examples", "Judge's worked examples",
         "Records of an earlier review where the humans chose another response than the judge, put into the "
         "judge's prompt with the humans' ranking as ratings (`--judge-examples`); they are not rows of this "
         "dataset, and `curate report` leaves them out of its judge-human agreement."),
    ):
        if found[key]:
            out += [f"## {title}", "", text, "", "| batch | examples from Argilla dataset | record ids |",
                    "|---|---|---|", *found[key], ""]
    return out


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
