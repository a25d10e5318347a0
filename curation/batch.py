"""A batch: one generation run on disk — `rows.parquet` + `manifest.json` in one folder
(plus `generation.log`, distilabel's log of the run, written from its start).

Row schemas (the contract between `generate` and `push`):

- kind ``sft`` (recipes prompt, self-instruct, magpie, evol-instruct):
  ``instruction: str``, ``response: str``, ``model_name: str``, ``raw_output: str``
  (JSON of what the model returned before cleaning); optional ``quality_score: float``,
  ``complexity_score: float`` (Deita scorers).
- kind ``preference`` (recipes responses, evol-quality, ultrafeedback):
  ``instruction: str``, ``generations: list[str]``, ``generation_models: list[str]``,
  ``raw_output: str``; ultrafeedback adds ``ratings: list[int|None]``,
  ``rationales: list[str]``, ``judge_model: str``, ``chosen_index: int|None``,
  ``rejected_index: int|None`` (None when the judge's ratings tie or are missing).

Candidates that went through several recipes carry ``candidate_origin: list[str]``, parallel
to ``generations`` (``"original"`` or ``"evolved"``).

The manifest is written last, through a temporary file and a rename, and carries
``status: "complete"``: a folder without it is an interrupted run, never a batch.

Lineage: a batch made from another batch (``--seeds BATCH``, or a step such as dedup that
keeps some rows) has a ``parent`` entry in its manifest, ``{"batch_id", "recipe", "kind",
"rows_sha256", "path"}``; the root batch names its ``seed_file`` and ``seed_sha256``.
`lineage(batch)` walks the parents back to the root; `write_child_batch` writes a child
with the ``parent`` entry and one manifest section (``derived_by`` names it) saying what was done.

A batch seeded from a reviewed Argilla dataset (``--seeds argilla:DATASET``) has a ``parent``
naming the dataset instead, ``{"dataset", "workspace", "server", "kind", "record_ids_sha256",
"policy", "seen", "admitted", "dropped", "batches"}`` (curation.reviewed_seeds): the walk makes
the dataset a step and goes on into each batch behind its records that is on this machine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation import settings
from curation.errors import BadInput, BatchNotFound

ROWS_FILE = "rows.parquet"
MANIFEST_FILE = "manifest.json"
KINDS = ("sft", "preference")
_VERSIONED = ("curation", "distilabel", "argilla", "datasets", "llama_cpp_python", "huggingface_hub")


@dataclass(frozen=True)
class Batch:
    """A complete batch folder."""

    path: Path
    manifest: dict

    @property
    def id(self) -> str:
        return self.manifest["batch_id"]

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def recipe(self) -> str:
        return self.manifest["recipe"]

    def rows(self) -> list[dict]:
        """All rows as dicts, in generation order; a damaged rows file is a one-line BatchNotFound."""
        try:
            return pq.read_table(self.path / ROWS_FILE).to_pylist()
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _unreadable_rows(self.path, exc) from None


def new_batch_id(recipe: str) -> str:
    """Sortable, unique, readable: `<recipe>-<UTC timestamp>-<6 hex>`."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{recipe}-{stamp}-{uuid.uuid4().hex[:6]}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def rows_sha256(batch: "Batch") -> str:
    """The sha256 of a batch's rows file: what a child records of its parent."""
    return file_sha256(batch.path / ROWS_FILE)


def parent_entry(batch: "Batch") -> dict:
    """The manifest's `parent` entry for a batch made from `batch`'s rows."""
    return {"batch_id": batch.id, "recipe": batch.recipe, "kind": batch.kind,
            "rows_sha256": rows_sha256(batch), "path": str(batch.path)}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def ensure_no_batch(out_dir: Path) -> None:
    """A complete batch is never overwritten: its rows may already be in Argilla."""
    if (out_dir / MANIFEST_FILE).exists():
        raise BadInput(f"{out_dir} already holds a batch; choose another --out")


def _manifest_problems(manifest: dict) -> list[str]:
    """The keys every reader relies on that are missing or invalid (write and read check the same)."""
    rows = manifest.get("rows")
    return [key for key, ok in (
        ("batch_id", isinstance(manifest.get("batch_id"), str)),
        ("recipe", isinstance(manifest.get("recipe"), str)),
        ("kind", manifest.get("kind") in KINDS),
        ("rows", isinstance(rows, dict) and isinstance(rows.get("kept"), int)),
    ) if not ok]


@dataclass(frozen=True)
class RowStream:
    """Rows as Arrow record batches made one at a time (`batches()`), with their schema and count
    known up front: a filter of a large batch written without ever holding it whole."""

    schema: pa.Schema
    num_rows: int
    batches: Callable[[], Iterator[pa.RecordBatch]]

    def __len__(self) -> int:
        return self.num_rows


_ROW_GROUP = 65_536  # rows a streamed rows file writes at once (memory bound, and row groups not too small)


def _write_rows(rows: list[dict] | pa.Table | RowStream, path: Path) -> None:
    if not isinstance(rows, RowStream):
        # a Table is written as it is (a filter of a large batch need not become Python dicts first)
        pq.write_table(rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows), path)
        return
    written, pending, held = 0, [], 0
    with pq.ParquetWriter(path, rows.schema) as writer:
        for batch in rows.batches():
            pending.append(batch)
            held += batch.num_rows
            if held >= _ROW_GROUP:
                writer.write_table(pa.Table.from_batches(pending, rows.schema))
                written, pending, held = written + held, [], 0
        writer.write_table(pa.Table.from_batches(pending, rows.schema))
        written += held
    if written != rows.num_rows:
        path.unlink()
        raise ValueError(f"a row stream said {rows.num_rows} rows and gave {written}")


def write_batch(out_dir: Path, rows: list[dict] | pa.Table | RowStream, manifest: dict) -> Batch:
    """Write rows then the manifest (atomically, last), so only finished batches look complete."""
    if problems := _manifest_problems(manifest):
        raise ValueError(f"a batch manifest needs a valid {', '.join(problems)} (kind: one of {KINDS})")
    ensure_no_batch(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_rows(rows, out_dir / ROWS_FILE)
    manifest = {**manifest, "status": "complete", "rows_file": ROWS_FILE}
    tmp = out_dir / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    os.replace(tmp, out_dir / MANIFEST_FILE)
    return Batch(out_dir, manifest)


class _NotABatch(Exception):
    """Why a folder is not a usable batch (turned into BatchNotFound or an `unreadable` listing)."""

    def __init__(self, reason: str, hint: str | None = None):
        super().__init__(reason)
        self.hint = hint


_DAMAGED = "generate the batch again; a batch folder is never edited by hand"
_INTERRUPTED = "an interrupted `curate generate` resumes when run again with the same options"


def _unreadable_rows(path: Path, exc: Exception) -> BatchNotFound:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return BatchNotFound(f"{path / ROWS_FILE} is damaged or not a Parquet file ({reason})", hint=_DAMAGED)


def _read(path: Path) -> Batch:
    """The complete batch in `path`, or _NotABatch saying why not."""
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise _NotABatch(f"no complete {MANIFEST_FILE} (an interrupted run?)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError) as exc:
        raise _NotABatch(f"{MANIFEST_FILE} is not valid JSON ({type(exc).__name__})", _DAMAGED) from None
    if not isinstance(manifest, dict) or manifest.get("status") != "complete":
        raise _NotABatch(f"no complete {MANIFEST_FILE} (an interrupted run?)")
    problems = _manifest_problems(manifest)
    if problems:
        raise _NotABatch(f"{MANIFEST_FILE} lacks a valid {', '.join(repr(p) for p in problems)}", _DAMAGED)
    if not (path / ROWS_FILE).is_file():
        raise _NotABatch(f"{ROWS_FILE} is missing", _DAMAGED)
    try:
        pq.read_metadata(path / ROWS_FILE)  # a truncated file has no footer
    except (pa.ArrowException, OSError, ValueError) as exc:
        error = _unreadable_rows(path, exc)
        raise _NotABatch(str(error), error.hint) from None
    return Batch(path, manifest)


def load_batch(id_or_path: str | Path) -> Batch:
    """A batch by folder path or by id under the batches folder."""
    candidate = Path(id_or_path).expanduser()
    for path in (candidate, settings.batches_dir() / str(id_or_path)):
        if path.is_dir():
            try:
                return _read(path)
            except _NotABatch as exc:
                raise BatchNotFound(f"{path} is not a complete batch: {exc}", hint=exc.hint or _INTERRUPTED) from None
    raise BatchNotFound(
        f"no batch {id_or_path!r} (looked for a folder and under {settings.batches_dir()})",
        hint="`curate batches list` shows the batches",
    )


@dataclass(frozen=True)
class Listing:
    """The batches folder: complete batches, oldest first, and folders that look like batches but are unreadable."""

    batches: list[Batch]
    unreadable: list[tuple[Path, str]]


def list_batches(root: Path | None = None) -> Listing:
    """Scan `root` (default: the batches folder): one bad folder never hides the others.

    A folder with a manifest that cannot be used is listed as unreadable; one without a
    manifest is an interrupted run (or a run's log only) and is left out.
    """
    root = root or settings.batches_dir()
    batches, unreadable = [], []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if not path.is_dir() or not (path / MANIFEST_FILE).exists():
            continue
        try:
            batches.append(_read(path))
        except _NotABatch as exc:
            unreadable.append((path, str(exc)))
    batches.sort(key=lambda b: str(b.manifest.get("started_at", "")))
    return Listing(batches, unreadable)


class BatchFinder:
    """Batches under the batches folder by id: its folder of that name, else any folder whose
    manifest has that id (a batch written with --out there); the folder is scanned once."""

    def __init__(self, root: Path | None = None):
        self.root = root or settings.batches_dir()
        self._by_id: dict[str, Batch] | None = None

    def find(self, batch_id: str) -> Batch | None:
        folder = self.root / batch_id
        if Path(batch_id).name == batch_id not in ("..", ".") and folder.is_dir():  # an id, never a path elsewhere
            return load_batch(folder)
        if self._by_id is None:
            self._by_id = {b.id: b for b in list_batches(self.root).batches}
        return self._by_id.get(batch_id)


def with_drop_columns(dropped: pa.Table, columns: dict[str, pa.Array]) -> pa.Table:
    """Dropped rows, whole, with `columns` appended to say why (a row column of the same name is
    replaced: ours describes the drop). The `dropped.parquet` of dedup and decontamination."""
    for name, column in columns.items():
        if name in dropped.column_names:
            dropped = dropped.drop_columns([name])
        dropped = dropped.append_column(name, column)
    return dropped


def write_child_batch(parent: Batch, rows: list[dict] | pa.Table | RowStream, *, derived_by: str, details: dict,
                      out: Path | None = None, recipe: str | None = None, kind: str | None = None,
                      tables: dict[str, pa.Table] | None = None) -> Batch:
    """Write a batch made from `parent`'s rows by a step that generates nothing (dedup, selection, ...).

    The manifest keeps the parent's recipe, kind, model and parameters (the rows were made by
    them), adds `parent` (see `parent_entry`), `derived_by: <step>` and `<step>: details` (what
    was done, e.g. {"threshold": 0.9, "removed": 3}), and counts `rows` against the parent's.
    The batch id is `<recipe>-<step>-<stamp>-<hex>`; the folder `out` or the batches folder.
    `tables` ({file name: table}) are written beside the rows, before the manifest (e.g. the
    rows dedup dropped).
    """
    if not derived_by or not derived_by.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"derived_by must be a short name such as 'dedup', got {derived_by!r}")
    recipe = recipe or parent.recipe
    batch_id = new_batch_id(f"{recipe}-{derived_by}")
    inherited = {k: parent.manifest[k] for k in ("backend", "backends", "model", "judge", "parameters")
                 if k in parent.manifest}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    manifest = {
        **inherited,
        "batch_id": batch_id,
        "recipe": recipe,
        "kind": kind or parent.kind,
        "parent": parent_entry(parent),
        "derived_by": derived_by,
        derived_by: details,
        "seed_file": None,
        "seed_sha256": None,
        "rows": {"requested": parent.manifest["rows"]["kept"], "generated": parent.manifest["rows"]["kept"],
                 "kept": len(rows), "dropped": parent.manifest["rows"]["kept"] - len(rows)},
        "started_at": now,
        "finished_at": now,
        "versions": package_versions(),
    }
    out = out or settings.batches_dir() / batch_id
    tables = tables or {}
    if clashing := [n for n in tables if n in (ROWS_FILE, MANIFEST_FILE) or Path(n).name != n]:
        raise ValueError(f"extra tables need plain file names of their own, got {clashing}")
    if tables:
        ensure_no_batch(out)
        out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        pq.write_table(table, out / name)
    return write_batch(out, rows, manifest)


def find_batch(batch_id: str, *, hint_path: str | None = None) -> Batch | None:
    """The batch with that id on this machine: its folder under the batches folder, else
    `hint_path` (where a child saw it) if its manifest has that id, else None."""
    candidates = [settings.batches_dir() / batch_id] if Path(batch_id).name == batch_id not in ("", ".", "..") else []
    if hint_path:
        candidates.append(Path(hint_path))
    for path in candidates:
        if path.is_dir():
            try:
                batch = _read(path)
            except _NotABatch:
                continue
            if batch.id == batch_id:
                return batch
    return None


def lineage(batch: Batch) -> list[dict]:
    """The chain of batches behind `batch`, root first, `batch` last.

    Each step: {"batch_id", "recipe", "kind", "derived_by" (None for a generation), "rows" (kept),
    "path", "seed_file", "seed_sha256" (the root's seed file), "rows_sha256" (as the child
    recorded it, None for `batch`), "found" (its manifest is on this machine), "changed"
    (its rows no longer match what the child recorded), "starts_branch" (the first step of
    the chain, or of another batch behind the same dataset)}. A parent not on this machine
    ends the walk with found=False and what the child recorded of it.

    A reviewed dataset behind a batch (`--seeds argilla:`) is a step too: "dataset" (its name),
    with "workspace", "server", "record_ids_sha256", "policy", "admitted" (as "rows"), "dropped"
    and "batches" as the child recorded them, found=True. Before it come the steps behind each
    of its batches (sorted by id, each root first); one not on this machine is a found=False step.
    """
    steps = _walk(batch, set())
    for number, step in enumerate(steps):
        step["starts_branch"] = number == 0 or step.get("starts_branch", False)
    return steps


def _walk(batch: Batch, seen: set[str]) -> list[dict]:
    """`lineage` of `batch`, root first; `seen` keeps a batch reached twice (a cycle) to one step."""
    steps: list[dict] = []
    current: Batch | None = batch
    recorded: dict | None = None
    while current is not None and current.id not in seen:
        seen.add(current.id)
        m = current.manifest
        recorded_sha = recorded.get("rows_sha256") if recorded else None
        steps.append({
            "batch_id": current.id, "recipe": current.recipe, "kind": current.kind,
            "derived_by": m.get("derived_by"), "rows": m["rows"]["kept"], "path": str(current.path),
            "seed_file": m.get("seed_file"), "seed_sha256": m.get("seed_sha256"),
            "rows_sha256": recorded_sha, "found": True,
            "changed": bool(recorded_sha) and rows_sha256(current) != recorded_sha,
        })
        recorded = m.get("parent") if isinstance(m.get("parent"), dict) else None
        if recorded is None:
            break
        if recorded.get("dataset") is not None:
            return [*_behind_dataset(recorded, seen), _dataset_step(recorded), *reversed(steps)]
        current = find_batch(str(recorded.get("batch_id")), hint_path=recorded.get("path"))
        if current is None:
            steps.append(_missing_step(recorded.get("batch_id"), recorded))
    return list(reversed(steps))


def _missing_step(batch_id, recorded: dict | None = None) -> dict:
    """A batch a child names that is not on this machine: what the child recorded of it."""
    recorded = recorded or {}
    return {
        "batch_id": batch_id, "recipe": recorded.get("recipe"), "kind": recorded.get("kind"),
        "derived_by": None, "rows": None, "path": recorded.get("path"), "seed_file": None,
        "seed_sha256": None, "rows_sha256": recorded.get("rows_sha256"), "found": False, "changed": False,
    }


def _dataset_step(recorded: dict) -> dict:
    """The reviewed dataset a batch was seeded from, as the batch's manifest recorded it."""
    return {
        "batch_id": None, "recipe": None, "kind": recorded.get("kind"), "derived_by": None,
        "rows": recorded.get("admitted"), "path": None, "seed_file": None, "seed_sha256": None,
        "rows_sha256": None, "found": True, "changed": False, "starts_branch": False,
        **{key: recorded.get(key) for key in ("dataset", "workspace", "server", "record_ids_sha256", "policy",
                                               "seen", "dropped")},
        "batches": list(recorded.get("batches") or []),
    }


def _behind_dataset(recorded: dict, seen: set[str]) -> list[dict]:
    """The steps behind each batch the dataset's records came from, one branch after another."""
    steps: list[dict] = []
    for batch_id in sorted(str(b) for b in recorded.get("batches") or []):
        behind = find_batch(batch_id)
        branch = _walk(behind, seen) if behind is not None else [_missing_step(batch_id)]
        if branch:
            branch[0]["starts_branch"] = True
            steps += branch
    return steps


def step_label(step: dict) -> str:
    """What a lineage step did: its recipe or derivation step, or `argilla:DATASET` for a reviewed dataset."""
    if step.get("dataset") is not None:
        return f"argilla:{step['dataset']}"
    return step["derived_by"] or step["recipe"] or "?"


def chain_text(steps: list[dict], label=step_label) -> str:
    """The steps as one line, root first: "a → b", and "a + b → argilla:D → c" where several
    batches lie behind a dataset (`label` renders each step)."""
    text = ""
    for number, step in enumerate(steps):
        if number:
            text += " + " if step["starts_branch"] else " → "
        text += label(step)
    return text


def chain(batch: Batch) -> list[str]:
    """The recipes (and derivation steps) a batch's rows went through, root first: e.g.
    ["responses", "evol-quality", "ultrafeedback"]; an unknown ancestor is "?", a reviewed
    dataset "argilla:NAME" (after the steps of every batch behind it)."""
    return [step_label(step) for step in lineage(batch)]
