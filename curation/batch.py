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

The manifest is written last, through a temporary file and a rename, and carries
``status: "complete"``: a folder without it is an interrupted run, never a batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
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


def write_batch(out_dir: Path, rows: list[dict], manifest: dict) -> Batch:
    """Write rows then the manifest (atomically, last), so only finished batches look complete."""
    if problems := _manifest_problems(manifest):
        raise ValueError(f"a batch manifest needs a valid {', '.join(problems)} (kind: one of {KINDS})")
    ensure_no_batch(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out_dir / ROWS_FILE)
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
