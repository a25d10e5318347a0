"""What a generation shows while it runs, and where distilabel's own log goes.

distilabel logs every batch of every step (about 100 lines for 4 rows) through a rich
handler on rich's global console, and prints a failed citation lookup to stdout. Here:

- ``progress`` (the default): one rich progress line on stderr (rows done / total,
  completion tokens/s, elapsed); distilabel's console output is silenced;
- ``log`` (``-v``): distilabel's log on the console as distilabel prints it;
- ``quiet`` (``-q``): nothing while it runs.

In every mode the full log goes to a file (the batch folder's ``generation.log``), through
`curation.secrets`' redaction like every record.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from pathlib import Path

DISPLAYS = ("progress", "log", "quiet")
# Log records carrying this attribute report finished rows: {"rows": int, "tokens": int}.
PROGRESS_ATTR = "curation_progress"
LOG_FILE = "generation.log"
_FORMAT = logging.Formatter("[%(asctime)s] %(levelname)-8s [%(name)s] %(message)s", datefmt="%Y-%m-%d %H:%M:%S")


class _ProgressHandler(logging.Handler):
    """Moves the progress display on the records ReportProgress sends from the workers."""

    def __init__(self, progress, task_id, total: int):
        super().__init__()
        self.progress, self.task_id, self.total = progress, task_id, total
        self.rows = self.tokens = 0

    def emit(self, record: logging.LogRecord) -> None:
        report = getattr(record, PROGRESS_ATTR, None)
        if not isinstance(report, dict):
            return
        self.rows = min(self.total, self.rows + int(report.get("rows", 0)))
        self.tokens += int(report.get("tokens", 0))
        self.progress.update(self.task_id, completed=self.rows, tokens=self.tokens)


class _StdoutToLog(io.TextIOBase):
    """A stdout that writes each printed line to a logger (distilabel prints some failures)."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.logger.info(line)
        return len(text)


@contextmanager
def _no_datasets_progress_bars() -> Iterator[None]:
    """distilabel loads its output with `datasets`, whose progress bar would print a line of its own."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _tokens_per_second_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class TokensPerSecond(ProgressColumn):
        def render(self, task) -> Text:
            elapsed = task.elapsed or 0.0
            rate = task.fields.get("tokens", 0) / elapsed if elapsed > 0 else 0.0
            return Text(f"{rate:,.0f} tokens/s", style="progress.data.speed")

    return TokensPerSecond()


@contextmanager
def pipeline_display(log_file: Path, *, total: int, label: str, display: str = "progress") -> Iterator[list[logging.Handler]]:
    """Set up the console and the log file for one pipeline run; yields the handlers for `Pipeline.run`."""
    if display not in DISPLAYS:
        raise ValueError(f"display must be one of {DISPLAYS}, got {display!r}")
    import rich
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    log_file.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(_FORMAT)
    handlers: list[logging.Handler] = [file_handler]
    global_console = rich.get_console()  # distilabel's RichHandler prints through it
    was_quiet = global_console.quiet
    # distilabel configures the root logger for its run (INFO, its handlers): put it back after,
    # so what runs next in this process (push in `curate run`) logs as before.
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    with ExitStack() as stack:
        if display != "log":
            global_console.quiet = True
            stack.enter_context(redirect_stdout(_StdoutToLog(logging.getLogger("distilabel.stdout"))))
            stack.enter_context(_no_datasets_progress_bars())
        if display == "progress":
            progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                _tokens_per_second_column(), TimeElapsedColumn(), console=Console(stderr=True),
            )
            task_id = progress.add_task(label, total=total, tokens=0)
            handlers.append(_ProgressHandler(progress, task_id, total))
            stack.enter_context(progress)
        try:
            yield handlers
        finally:
            from curation.upstream.distilabel import stop_logging

            stop_logging()  # a failed run leaves distilabel's listener running with our handlers
            root.handlers[:] = root_handlers
            root.setLevel(root_level)
            global_console.quiet = was_quiet
            file_handler.close()


def finish_progress(handlers: list[logging.Handler], rows: int) -> None:
    """Show `rows` as done (a run answered from distilabel's cache reports nothing while it runs)."""
    for handler in handlers:
        if isinstance(handler, _ProgressHandler):
            handler.progress.update(handler.task_id, completed=min(rows, handler.total))
