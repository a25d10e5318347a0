"""A batch: one generation run on disk — `rows.parquet` + `manifest.json` in one folder.

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
        """All rows as dicts, in generation order."""
        return pq.read_table(self.path / ROWS_FILE).to_pylist()

    def table(self) -> pa.Table:
        return pq.read_table(self.path / ROWS_FILE)


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


def write_batch(out_dir: Path, rows: list[dict], manifest: dict) -> Batch:
    """Write rows then the manifest (atomically, last), so only finished batches look complete."""
    if manifest.get("kind") not in KINDS:
        raise ValueError(f"batch kind must be one of {KINDS}, got {manifest.get('kind')!r}")
    ensure_no_batch(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out_dir / ROWS_FILE)
    manifest = {**manifest, "status": "complete", "rows_file": ROWS_FILE}
    tmp = out_dir / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    os.replace(tmp, out_dir / MANIFEST_FILE)
    return Batch(out_dir, manifest)


def _read(path: Path) -> Batch | None:
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except (ValueError, OSError):
        return None  # unreadable: not a usable batch
    if not isinstance(manifest, dict) or manifest.get("status") != "complete" or not (path / ROWS_FILE).is_file():
        return None
    return Batch(path, manifest)


def load_batch(id_or_path: str | Path) -> Batch:
    """A batch by folder path or by id under the batches folder."""
    candidate = Path(id_or_path).expanduser()
    for path in (candidate, settings.batches_dir() / str(id_or_path)):
        if path.is_dir():
            batch = _read(path)
            if batch is None:
                raise BatchNotFound(
                    f"{path} is not a complete batch (no complete {MANIFEST_FILE})",
                    hint="an interrupted `curate generate` resumes when run again with the same options",
                )
            return batch
    raise BatchNotFound(
        f"no batch {id_or_path!r} (looked for a folder and under {settings.batches_dir()})",
        hint="`curate batches list` shows the batches",
    )


def list_batches(root: Path | None = None) -> list[Batch]:
    """Complete batches under `root` (default: the batches folder), oldest first."""
    root = root or settings.batches_dir()
    if not root.is_dir():
        return []
    found = [b for p in sorted(root.iterdir()) if p.is_dir() and (b := _read(p)) is not None]
    return sorted(found, key=lambda b: b.manifest.get("started_at", ""))
