"""Errors a user can fix, each caught once at the CLI edge and printed as one line."""

from __future__ import annotations


class CurationError(Exception):
    """Base class: a failure the user can act on. `exit_code` 2 = bad input, 1 = runtime."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class BadInput(CurationError):
    """The user gave something unusable (file, option, name)."""

    exit_code = 2


class SeedFileError(BadInput):
    """A seed file is missing, malformed or lacks the columns a recipe needs."""


class UnknownRecipe(BadInput):
    """No recipe by that name."""


class UnknownBackend(BadInput):
    """No LLM backend by that name, or its options are incomplete."""


class BatchNotFound(BadInput):
    """No batch with that id or path."""


class ConfigError(BadInput):
    """An argilla_configs file is invalid; the message names the file and the key."""


class BackendUnavailable(BadInput):
    """The LLM backend cannot be reached or loaded."""


class ArgillaUnavailable(CurationError):
    """The Argilla server is down, or refused the API key."""


class GenerationFailed(CurationError):
    """The pipeline ran but produced nothing usable."""
