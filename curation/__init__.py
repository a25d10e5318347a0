"""curation: turn LLM-generated candidates into datasets people trust enough to train on."""

__version__ = "0.1.0"
