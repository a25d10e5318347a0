"""`curate watch`: a validated record starts the next stage, on Argilla's webhooks (curation/watch/)."""

from __future__ import annotations

import os
import signal

import click

from curation.cli.review import CONFIG_OPTION, WORKSPACE_OPTION
from curation.watch.loop import DEFAULT_LISTEN, DEFAULT_MAX_BATCH, DEFAULT_RETRY_DELAY, DEFAULT_WINDOW
from pipelines import RECIPES

# What a watcher generates with: the generation options, less those a micro-batch sets (its seeds and
# size) or that make no sense a few records at a time (selection, dedup, a fresh start, Ray).
_NOT_FOR_WATCH = {"seeds", "num_rows", "fresh", "dedup", "ray", "deita_select", "deita_threshold"}


def generation_options(func):
    from curation.cli.generate import option_params

    for param in reversed(option_params(leave_out=_NOT_FOR_WATCH)):
        func = param(func)
    return func


def die_with_parent() -> None:
    """Every process forked from here on (distilabel's step processes, theirs) is killed when its parent
    dies (Linux's PR_SET_PDEATHSIG): a watcher killed with -9 mid-micro-batch leaves no process waiting
    forever on a queue nobody feeds."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def in_child() -> None:
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG

    os.register_at_fork(after_in_child=in_child)


@click.command()
@click.argument("source")
@click.option("--recipe", required=True, type=click.Choice([n for n, r in RECIPES.items() if r.seed_columns]),
              help="The recipe each completed record goes through.")
@click.option("--into", "target", required=True, help="The Argilla dataset the results are pushed to (created if needed).")
@WORKSPACE_OPTION
@CONFIG_OPTION
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, help="HOST:PORT the webhook listener binds.")
@click.option("--url",
              help="The listener's URL as the Argilla server reaches it (default: http://HOST:PORT of --listen).")
@click.option("--window", type=click.FloatRange(min=0), default=DEFAULT_WINDOW, show_default=True,
              help="Seconds to gather records after the first one before generating.")
@click.option("--max-batch", type=click.IntRange(min=1), default=DEFAULT_MAX_BATCH, show_default=True,
              help="Most records generated at once.")
@click.option("--retry-delay", type=click.FloatRange(min=0), default=DEFAULT_RETRY_DELAY, show_default=True,
              help="Seconds before a failed micro-batch is tried again (doubling each time).")
@generation_options
def watch(source, recipe, target, workspace, config_path, listen, url, window, max_batch, retry_delay, **options):
    """Turn each record annotators complete in dataset SOURCE into the next stage's record in TARGET.

    Registers a webhook for SOURCE's completed records on the Argilla server and listens for it
    (every delivery's signature is checked). Each record the export policy admits (same
    --agreement and --min-submitted as `curate export`, corrections applied) goes through
    RECIPE within seconds, a few at a time (--window, --max-batch), and the result is pushed to
    TARGET with its suggestions; each micro-batch is an ordinary batch whose manifest names
    SOURCE. A record becomes one TARGET record (its id derived from the source record and the
    recipe), however often it is delivered or completed again.

    At start the admitted records that TARGET lacks are caught up (missed while the watcher was
    down). A failed generation is retried later, never dropped. SIGTERM or Ctrl-C stops it after
    the micro-batch in hand and removes its webhook. `curate status TARGET` shows what it did.

    From an sft dataset, `responses` and `ultrafeedback` take the validated instruction and write
    new candidates; `evol-instruct` and `evol-quality` take instruction and response.

    \b
    Example:
        curate watch instructions --recipe ultrafeedback --into preferences --max-new-tokens 128
    """
    import warnings

    from curation.options import GenerationOptions
    from curation.watch.loop import WatchPlan, Watcher

    # pydantic's notes on distilabel's and argilla's models, once per micro-batch otherwise: noise in a service's log.
    warnings.filterwarnings("ignore", module="pydantic")
    warnings.filterwarnings("ignore", message="A custom validator is returning a value other than `self`")

    plan = WatchPlan(source=source, target=target, options=GenerationOptions(recipe=recipe, **options),
                     workspace=workspace, listen=listen, url=url, window=window, max_batch=max_batch,
                     retry_delay=retry_delay, config_path=config_path)
    watcher = Watcher(plan, echo=click.echo)

    owner = os.getpid()

    def stop(signum, frame):
        if os.getpid() != owner:
            # A process distilabel forked (its step pool) inherits this handler; when distilabel ends
            # it with SIGTERM it must end as by default, or the pipeline waits for it forever.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        click.echo(f"{signal.Signals(signum).name}: stopping after the micro-batch in hand")
        watcher.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    die_with_parent()
    watcher.run()
    click.echo("Stopped; the webhook is removed.")
