"""Export: human-validated Argilla records -> TRL-ready parquet + dataset card -> folder or Hub."""

from __future__ import annotations

import importlib

# Loaded on first use: `curate generate --help` and `push --help` import `curation.export.select` for
# the export policy's options, and must not pay for `run`/`hub` (datasets, huggingface_hub) to show it.
_LAZY = {"ExportReport": "curation.export.run", "export_dataset": "curation.export.run", "pull": "curation.export.hub"}

__all__ = ["ExportReport", "export_dataset", "pull"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'curation.export' has no attribute {name!r}")
