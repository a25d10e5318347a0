"""Keep secrets (API keys, tokens, passwords) out of everything a command prints or writes.

distilabel installs rich tracebacks that print every frame's local variables (an
`--api-key` among them) and logs from forked worker processes into its own file. Rather
than hunting for each place, `protect()` covers the process once:

- every log record created from then on (here and in workers forked later) has the
  secrets replaced in its message and traceback, whichever handler writes it;
- an uncaught exception prints a plain traceback without local variables, redacted.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterable

from curation import settings

REDACTED = "[redacted]"
_MIN_LENGTH = 4  # shorter values would redact ordinary words
_secrets: set[str] = set()
_installed = False


def redact(text: str) -> str:
    """`text` with every protected secret replaced by REDACTED."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def protect(values: Iterable[str | None] = ()) -> None:
    """Protect `values` and every secret environment variable (see settings) from now on."""
    global _installed
    _secrets.update(v for v in (*values, *settings.secret_values()) if v and len(v) >= _MIN_LENGTH)
    if not _installed:
        _install_record_factory()
        _installed = True
    # distilabel's import replaces the hook with a rich one that shows locals: put ours back.
    sys.excepthook = _plain_excepthook


def _install_record_factory() -> None:
    make_record = logging.getLogRecordFactory()

    def redacting_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if not _secrets:
            return record
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            # Handlers would render the live traceback (rich: with locals); keep a redacted text instead.
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return record

    logging.setLogRecordFactory(redacting_record)


def _plain_excepthook(exc_type, exc, tb) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(exc_type, exc, tb))))
