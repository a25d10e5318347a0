"""Write rows in the Hub's dataset layout, streaming: `data/train-XXXXX-of-YYYYY.parquet` + README.md.

Rows are buffered in small chunks and appended to a ParquetWriter, so memory holds one chunk,
not the dataset. A new export replaces the previous one: the stale data files go. It writes only
into an empty folder or one an earlier export wrote (it holds `MARKER`), never over other files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.errors import BadInput

DATA_DIR = "data"
SPLIT = "train"
CHUNK_ROWS = 1000  # rows held in memory before they go to disk
SHARD_ROWS = 200_000  # rows per parquet file, so a large export stays in Hub-friendly files
MARKER = ".curation-export.json"  # names a folder as an export's, so a re-export may replace it
STAGING_PREFIX = ".curation-export-"


@dataclass
class Written:
    """What went to disk: per split row count, in-memory size (for the card) and file sizes."""

    num_examples: int = 0
    num_bytes: int = 0
    download_size: int = 0
    files: tuple[str, ...] = ()
    sha256: str = ""  # of the data files, in order: names this export's content


def write_shards(rows: Iterable[dict], schema: pa.Schema, folder: Path, split: str = SPLIT) -> Written:
    """Stream `rows` into parquet shards under `folder/data/`; returns the totals."""
    data = folder / DATA_DIR
    data.mkdir(parents=True, exist_ok=True)
    written, parts, writer, buffer, in_shard = Written(), [], None, [], 0

    def flush() -> None:
        nonlocal writer, in_shard
        if not buffer:
            return
        if writer is None:
            parts.append(data / f"{split}-{len(parts):05d}.part")
            writer = pq.ParquetWriter(parts[-1], schema)
        table = pa.Table.from_pylist(buffer, schema=schema)
        writer.write_table(table)
        written.num_examples += table.num_rows
        written.num_bytes += table.nbytes
        in_shard += table.num_rows
        buffer.clear()
        if in_shard >= SHARD_ROWS:
            writer.close()
            writer, in_shard = None, 0

    for row in rows:
        buffer.append(row)
        if len(buffer) >= CHUNK_ROWS:
            flush()
    flush()
    if writer is not None:
        writer.close()
    names, digest = [], hashlib.sha256()
    for i, part in enumerate(parts):
        name = f"{split}-{i:05d}-of-{len(parts):05d}.parquet"
        part.rename(data / name)
        with open(data / name, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                written.download_size += len(block)
        names.append(f"{DATA_DIR}/{name}")
    written.files, written.sha256 = tuple(names), digest.hexdigest()
    return written


def check_out(out: Path) -> None:
    """BadInput unless `out` is missing, empty, or an earlier export's folder (never overwrite other files)."""
    if not out.is_dir():
        return  # missing (created later), or a file (refused when the staging folder is made)
    if (out / MARKER).is_file():
        return
    if any(not entry.name.startswith(STAGING_PREFIX) for entry in out.iterdir()):
        raise BadInput(
            f"{out} is not empty and holds no earlier `curate export`; refusing to replace its files",
            hint="give an empty or new folder to --out",
        )


def staging_dir(out: Path) -> Path:
    """A private folder next to the files it will replace (same filesystem, so moves are renames)."""
    out.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))


def replace_export(staging: Path, out: Path) -> None:
    """Move a finished export from `staging` into `out`, then delete the previous export's other data files.

    The new files go in first, so a failure part way leaves the previous export's data in place.
    """
    data = out / DATA_DIR
    data.mkdir(exist_ok=True)
    new_names = sorted(p.name for p in (staging / DATA_DIR).glob("*.parquet"))
    for name in new_names:
        os.replace(staging / DATA_DIR / name, data / name)
    os.replace(staging / "README.md", out / "README.md")
    files = [f"{DATA_DIR}/{name}" for name in new_names]
    (out / MARKER).write_text(json.dumps({"written_by": "curate export", "files": files}, indent=2) + "\n")
    for stale in data.glob("*.parquet"):
        if stale.name not in new_names:
            stale.unlink()
    shutil.rmtree(staging, ignore_errors=True)
