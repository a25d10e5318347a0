"""Read seeds — a file (JSONL, JSON, CSV, Parquet, or text with one seed a line), a batch, or a
reviewed Argilla dataset (`argilla:DATASET`, curation.reviewed_seeds) — and check they have what
a recipe needs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from curation.batch import Batch, file_sha256, load_batch, parent_entry
from curation.contract import COL_GENERATIONS, COL_INSTRUCTION, COL_SEED_INSTRUCTION, COL_SOURCE_RECORD_ID
from curation.errors import BatchNotFound, SeedFileError
from curation.seed_values import check_rows

FORMATS = (".jsonl", ".json", ".csv", ".parquet", ".txt")


class SeedRows(list):
    """Seed rows (dicts) plus where they came from: a seed file, a `parent` batch, or a reviewed
    `dataset` (its manifest entry, see curation.reviewed_seeds.dataset_entry)."""

    def __init__(self, rows=(), *, path: Path | None = None, parent: Batch | None = None,
                 dataset: dict | None = None):
        super().__init__(rows)
        self.path = path
        self.parent = parent
        self.dataset = dataset

    @property
    def from_batch(self) -> bool:
        """Rows of an earlier stage (a batch, or a reviewed dataset): each used once, not cycled."""
        return self.parent is not None or self.dataset is not None

    def manifest_entries(self) -> dict:
        """What a manifest records of its seeds: the seed file and its hash, or the parent batch or dataset."""
        if self.parent is not None:
            return {"seed_file": None, "seed_sha256": None, "parent": parent_entry(self.parent)}
        if self.dataset is not None:
            return {"seed_file": None, "seed_sha256": None, "parent": self.dataset}
        if self.path is not None:
            return {"seed_file": str(self.path), "seed_sha256": file_sha256(self.path)}
        return {"seed_file": None, "seed_sha256": None}


def read_seed_rows(path: Path, *, text_column: str | None = None) -> list[dict]:
    """Rows of the seed file as dicts; any unreadable file is a one-line SeedFileError.

    A `.txt` file is one seed a line, put in `text_column` (the recipe's main column); blank lines are skipped.
    """
    if not path.is_file():
        raise SeedFileError(f"seed file not found: {path}",
                            hint="--seeds takes a seed file, a batch id or folder (`curate batches list`), "
                                 "or argilla:DATASET")
    suffix = path.suffix.lower()
    lines: list[int] | None = None  # the line each row starts on, where the format has lines
    json_text: str | None = None
    try:
        if suffix == ".txt":
            if text_column is None:
                raise SeedFileError(f"{path}: this recipe takes no one-column seeds; use one of "
                                    f"{', '.join(f for f in FORMATS if f != '.txt')}")
            numbered = [(n, line.strip()) for n, line in enumerate(_read_lines(path), 1) if line.strip()]
            rows, lines = [{text_column: text} for _, text in numbered], [n for n, _ in numbered]
        elif suffix == ".jsonl":
            numbered = [(n, line) for n, line in enumerate(_read_lines(path), 1) if line.strip()]
            rows, lines = [json.loads(line) for _, line in numbered], [n for n, _ in numbered]
        elif suffix == ".json":
            json_text = path.read_text(encoding="utf-8")
            rows = json.loads(json_text)
            rows = rows if isinstance(rows, list) else [rows]
        elif suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                rows, lines = [], []
                for row in reader:
                    rows.append(row)
                    lines.append(reader.line_num)  # the line the row ends on: one line unless quoted newlines
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
        else:
            raise SeedFileError(f"{path}: unsupported seed file type {suffix!r}; use one of {', '.join(FORMATS)}, "
                                "or a batch id or folder")
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as exc:
        raise SeedFileError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    except RecursionError:  # json's parser recurses once per nesting level
        raise SeedFileError(
            f"{path}: not valid {suffix[1:].upper()}: nested too deeply to read",
            hint="seed rows are flat objects such as {\"instruction\": \"...\"}",
        ) from None
    except OSError as exc:  # pyarrow raises ArrowInvalid (an OSError subclass... or ValueError)
        raise SeedFileError(f"{path}: cannot read: {exc}") from None
    except ValueError as exc:
        raise SeedFileError(f"{path}: cannot read: {exc}") from None
    if not all(isinstance(r, dict) for r in rows):
        raise SeedFileError(f"{path}: every row must be an object with named columns")
    check_rows(rows, str(path), lines, json_text)
    return rows


def name_sources(rows: list[dict], seeds: list[dict]) -> list[dict]:
    """`rows` with the `source_record_id` of the seed each was made from, where the seeds came from
    a reviewed dataset's records: the seed whose instruction the row answers (its `instruction`, or
    its `seed_instruction` when the recipe rewrote it), each seed once, in order. Rows of other
    seeds are returned as they are."""
    from collections import defaultdict, deque

    sources: dict[str, deque] = defaultdict(deque)
    for seed in seeds:
        if seed.get(COL_SOURCE_RECORD_ID):
            sources[seed.get(COL_INSTRUCTION)].append(seed[COL_SOURCE_RECORD_ID])
    if not sources:
        return rows
    named = []
    for row in rows:
        queue = sources.get(row.get(COL_SEED_INSTRUCTION) or row.get(COL_INSTRUCTION))
        named.append({**row, COL_SOURCE_RECORD_ID: queue.popleft() if queue else None})
    return named


def _read_lines(path: Path) -> list[str]:
    # splitlines() would also split at \x0b, \x1c, \u2028...: count lines as editors and json do.
    return path.read_text(encoding="utf-8").split("\n")


def _is_text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def has_candidates(row: dict) -> bool:
    """A row that already carries candidate responses: `instruction` and a non-empty `generations` list."""
    gens = row.get(COL_GENERATIONS)
    return _is_text(row.get(COL_INSTRUCTION)) and isinstance(gens, list) and any(_is_text(g) for g in gens)


def _batch_source(path: Path) -> Batch | None:
    """The batch `--seeds` names (a batch folder, or an id under the batches folder), else None."""
    if path.is_file():
        return None
    if path.is_dir():
        return load_batch(path)
    try:
        return load_batch(str(path))
    except BatchNotFound:
        return None


def load_seeds(path: Path | None, *, recipe: str, columns: tuple[str, ...], required: bool,
               candidates: bool = False, workspace: str | None = None, agreement: str = "majority",
               min_submitted: int | None = None, client=None) -> SeedRows:
    """Seed rows with every needed column present and non-empty; empty when optional and absent.

    `path` is a seed file, a batch (id or folder), or `argilla:DATASET`, whose rows feed the
    recipe. With `candidates`, rows carrying `instruction` + `generations` are usable instead of
    `columns`. `workspace`, `agreement` and `min_submitted` choose a dataset's records, as
    `curate export` does (`client`: an Argilla client, else one is connected).
    """
    from curation.reviewed_seeds import is_reviewed_source, load_reviewed_seeds

    if is_reviewed_source(path):
        reviewed = load_reviewed_seeds(path, recipe=recipe, columns=columns, candidates=candidates,
                                       workspace=workspace, agreement=agreement, min_submitted=min_submitted,
                                       client=client)
        return SeedRows(reviewed.rows, dataset=reviewed.parent)
    if path is None:
        if required:
            raise SeedFileError(
                f"recipe {recipe!r} needs --seeds FILE with column(s): {', '.join(columns)}"
            )
        return SeedRows()
    parent = _batch_source(Path(path))
    if parent is not None:
        rows, where = parent.rows(), f"batch {parent.id}"
        check_rows(rows, where)
    else:
        text_column = columns[0] if len(columns) == 1 else None
        rows, where = read_seed_rows(Path(path), text_column=text_column), str(path)
    if not rows:
        raise SeedFileError(f"{where}: the seed {'batch' if parent else 'file'} has no rows")

    def usable(row: dict) -> bool:
        return all(_is_text(row.get(c)) for c in columns) or (candidates and has_candidates(row))

    shapes = f"{', '.join(columns)}" + (" (or instruction + generations)" if candidates else "")
    missing = [c for c in columns if c not in rows[0]]
    if missing and not (candidates and any(has_candidates(r) for r in rows)):
        raise SeedFileError(
            f"{where}: missing column(s) {', '.join(missing)} (recipe {recipe!r} needs: {shapes}; "
            f"found: {', '.join(rows[0]) or 'none'})"
        )
    kept = [r for r in rows if usable(r)]
    if not kept:
        raise SeedFileError(f"{where}: no row has non-empty text in column(s) {shapes}")
    return SeedRows(kept, path=None if parent else Path(path), parent=parent)
