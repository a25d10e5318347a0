"""Read a seed file (JSONL, JSON, CSV or Parquet) and check it has what a recipe needs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from curation.errors import SeedFileError

FORMATS = (".jsonl", ".json", ".csv", ".parquet")


def read_seed_rows(path: Path) -> list[dict]:
    """Rows of the seed file as dicts; any unreadable file is a one-line SeedFileError."""
    if not path.is_file():
        raise SeedFileError(f"seed file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif suffix == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            rows = rows if isinstance(rows, list) else [rows]
        elif suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
        else:
            raise SeedFileError(f"{path}: unsupported seed file type {suffix!r}; use one of {', '.join(FORMATS)}")
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
    return rows


def load_seeds(path: Path | None, *, recipe: str, columns: tuple[str, ...], required: bool) -> list[dict]:
    """Seed rows with every needed column present and non-empty; [] when optional and absent."""
    if path is None:
        if required:
            raise SeedFileError(
                f"recipe {recipe!r} needs --seeds FILE with column(s): {', '.join(columns)}"
            )
        return []
    rows = read_seed_rows(path)
    if not rows:
        raise SeedFileError(f"{path}: the seed file has no rows")
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise SeedFileError(
            f"{path}: missing column(s) {', '.join(missing)} (recipe {recipe!r} needs: {', '.join(columns)}; "
            f"found: {', '.join(rows[0]) or 'none'})"
        )
    usable = [r for r in rows if all(isinstance(r.get(c), str) and r[c].strip() for c in columns)]
    if not usable:
        raise SeedFileError(f"{path}: no row has non-empty text in column(s) {', '.join(columns)}")
    return usable
