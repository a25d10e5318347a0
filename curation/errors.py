"""Errors a user can fix, each caught once at the CLI edge and printed as one line.

The exit-code table (every command follows it; tests assert the exact code):

====  ==========================================================================
code  when
====  ==========================================================================
0     success
2     the user must change the command or its input: bad options, files, configs,
      names; a key the server refuses (HTTP 401/403); a model the server does not serve
1     a service failed while running: Argilla or a model server unreachable or lost,
      an HTTP 5xx, a generation that produced nothing usable
====  ==========================================================================
"""

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
    """The user gave something unusable (file, option, name): change the command (exit 2)."""

    exit_code = 2


class SeedFileError(BadInput):
    """A seed file is missing, malformed or lacks the columns a recipe needs."""


class UnknownRecipe(BadInput):
    """No recipe by that name."""


class UnknownBackend(BadInput):
    """No LLM backend by that name, or its options are incomplete (a missing model file too)."""


class ModelNotServed(BadInput):
    """The model server runs but does not serve the model asked for."""


class BatchNotFound(BadInput):
    """No batch with that id or path, or a folder that is not a readable batch."""


class ConfigError(BadInput):
    """An argilla_configs file is invalid; the message names the file and the key."""


class AccessRefused(BadInput):
    """A server refused the credentials or the role behind them (HTTP 401/403): use another key."""


class ServiceUnavailable(CurationError):
    """A service failed while running: unreachable, lost, or answering 5xx (exit 1)."""


class BackendUnavailable(ServiceUnavailable):
    """The LLM backend's server cannot be reached or failed while generating."""


class ArgillaUnavailable(ServiceUnavailable):
    """The Argilla server is down, unreachable or failed (5xx)."""


class GenerationFailed(CurationError):
    """The pipeline ran but produced nothing usable."""
