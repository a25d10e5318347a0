"""Export: human-validated Argilla records -> TRL-ready parquet + dataset card -> folder or Hub."""

from curation.export.hub import pull
from curation.export.run import ExportReport, export_dataset

__all__ = ["ExportReport", "export_dataset", "pull"]
