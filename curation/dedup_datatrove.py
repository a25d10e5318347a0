"""`curate dedup --engine datatrove`: Hugging Face datatrove's four MinHash stages instead of ours, same child batch.

Why: datatrove's stages run past one machine (Slurm, Ray) and stream from disk, where our engine
(curation.dedup) holds a batch's band keys in one process. Here they run with datatrove's
`LocalPipelineExecutor` on this machine (stage 2 on 2 workers), in a temporary folder:

1. the batch's texts (`curation.dedup.row_text`) are written as Parquet (`id` = row index, `text`);
2. `MinhashDedupSignature` -> `MinhashDedupBuckets` (one task a bucket) -> `MinhashDedupCluster`
   (`save_cluster_id=True`) -> `MinhashDedupFilter` (`load_cluster_ids=True`), which writes the rows
   it keeps and, through its `exclusion_writer`, those it removes, each with its `minhash_cluster_id`;
3. the child batch is written by `curation.dedup.write_dedup_child`, the writer our engine uses:
   the same rows file, `dropped.parquet` and manifest `dedup` section, with `engine: datatrove`.

How it differs from our engine (all of it datatrove's design, documented here, not patched):

- **Shingles**: datatrove hashes *word* n-grams of its `simplify_text` (lower case, punctuation
  removed, numbers/weekdays/months normalized, diacritics folded); it has no character n-grams. We
  use word 2-grams (`N_GRAMS`): changing one word of a 40-word instruction leaves word 2-grams at
  Jaccard ~0.90 and our character 5-grams at ~0.93, where datatrove's default 5-grams fall to ~0.76.
  Words are split on whitespace (`SpaceTokenizer`): datatrove's English tokenizer needs spaCy, and
  after `simplify_text` whitespace is all that separates words. A text of fewer than two words has
  no shingle: datatrove never compares it (our engine compares even a one-word text). Shingles
  are hashed with datatrove's built-in sha1 (64 bits): its default xxhash calls want xxhash < 4.
- **Threshold**: datatrove has no check after LSH: two rows sharing one bucket (band) are
  duplicates, and there is no similarity estimate, so `similarity` is null in `dropped.parquet`.
  `--threshold T` chooses buckets x hashes_per_bucket (at most 128 hashes, our NUM_PERM) that
  minimize the false-positive plus false-negative area under LSH's S-curve 1 - (1 - s^r)^b
  (datasketch's default, equal weights): T=0.8 gives 9 x 13, so a pair at Jaccard 0.8 is caught
  with probability 0.40, at 0.9 with 0.93, at 0.95 with 0.998, at 0.7 with 0.08; T=0.9 gives 5 x 25.
  Our engine instead proposes more candidates and keeps only those whose estimate reaches T.
- **Which row goes**: datatrove clusters transitively (a~b and b~c make one cluster even when a
  and c are far apart) and its filter keeps the union-find root of each cluster, which depends on
  the order it reads pairs. We keep the *earliest* row of each cluster, as our engine keeps the
  first occurrence, and every other row of the cluster is dropped naming it (`duplicate_of_row`).
- `--against` (an Argilla dataset) is refused: it would need the records written as a datatrove
  index (`MinhashBuildIndex`) first, which this command does not do.

Past one machine, run the same four stages with datatrove's other executors (not run here):
`SlurmPipelineExecutor(pipeline=[...], tasks=..., time=..., partition=..., logging_dir=...,
depends=<previous stage's executor>)` for each stage, or `RayPipelineExecutor` on a Ray cluster, with
the input, signature, bucket and cluster folders on storage every node reads (a shared file system
or `s3://...`, which needs datatrove's `s3` extra). Stage 2 needs `tasks = num_buckets` (or a
multiple), stage 3 exactly one task, stage 4 as many tasks as stage 1 so rank r filters the
documents whose signatures rank r wrote; with several stage-4 tasks, take cluster membership from
stage 3's `.clusters` files, since a task that removes nothing passes its documents on without
cluster ids (here stages 1 and 4 are one task for that reason). Use the `MinhashConfig` the batch
manifest records (`dedup.datatrove`) to get the same buckets there as here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation import contract as c
from curation.batch import Batch
from curation.dedup import (DROPPED_FILE, NUM_PERM, Duplicate, _row_texts, check_threshold,
                            write_dedup_child)
from curation.errors import BadInput, CurationError

EXTRA = "datatrove"
N_GRAMS = 2
WORKERS = 2  # the machines this runs on have 2 cores
SEED = 1
# datatrove's default xxhash calls want xxhash < 4 (its `processing` extra pins it; xxhash 4, which
# `datasets` brings here, refuses str); its built-in sha1 needs nothing more.
HASH = "sha1"

try:  # optional: without it SpaceTokenizer is never used, and require_datatrove says what to install
    from datatrove.utils.word_tokenizers import WordTokenizer as _WordTokenizer
except ImportError:
    _WordTokenizer = object


def require_datatrove() -> str:
    """datatrove's version, or a one-line BadInput naming the extra that installs it."""
    try:
        import datatrove
        from datatrove.pipeline.dedup import minhash  # noqa: F401
    except ImportError as e:
        raise BadInput(f"--engine datatrove needs the optional datatrove package ({e.name} is missing)",
                       hint=f"pip install 'curation[{EXTRA}]' (or use the default --engine curation)") from None
    return getattr(datatrove, "__version__", None) or _version("datatrove")


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


@lru_cache
def buckets_for(threshold: float, budget: int = NUM_PERM) -> tuple[int, int]:
    """(num_buckets, hashes_per_bucket) for `threshold`: equal-weight false positives and negatives
    under LSH's S-curve, as datasketch's `MinHashLSH` chooses with its default weights.

    The integrands are polynomials of degree at most `budget`, so Gauss-Legendre with `budget`
    points computes the areas exactly."""
    threshold = check_threshold(threshold)
    nodes, weights = np.polynomial.legendre.leggauss(budget)

    def caught(b: int, r: int, low: float, high: float) -> float:
        s = (high - low) / 2 * nodes + (high + low) / 2
        return float((high - low) / 2 * weights @ (1 - (1 - s ** r) ** b))

    best, choice = float("inf"), (1, budget)
    for b in range(1, budget + 1):
        for r in range(1, budget // b + 1):
            error = caught(b, r, 0.0, threshold) + (1 - threshold) - caught(b, r, threshold, 1.0)
            if error < best:
                best, choice = error, (b, r)
    return choice


class SpaceTokenizer(_WordTokenizer):
    """A datatrove WordTokenizer that splits on whitespace: after `simplify_text`, words are all that is left."""

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def _id_and_cluster(self, document) -> dict:
    """What stage 4 writes of a document: its row and cluster (-1: in no cluster)."""
    return {"id": int(document.id), "cluster": int(document.metadata.get("minhash_cluster_id", -1))}


@contextlib.contextmanager
def _stderr_to(path: Path):
    """datatrove logs every task to stderr (loguru, which takes `sys.stderr` as each task starts): send it,
    and fd 2 for forked workers, to its log file while it runs."""
    from datatrove.utils.logging import setup_default_logger

    try:
        with open(path, "a", encoding="utf-8") as log, contextlib.redirect_stderr(log):
            saved = os.dup(2)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                log.flush()
                os.dup2(saved, 2)
                os.close(saved)
    finally:
        setup_default_logger()  # its handler took the log file as `sys.stderr`: give it the real one again


def find_duplicates_datatrove(texts: list[str], threshold: float, work: Path) -> tuple[list[Duplicate], dict]:
    """The rows datatrove's MinHash stages drop (each naming its cluster's earliest row), and its config."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
                                          MinhashDedupSignature)
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.hashing import HashConfig

    buckets, per_bucket = buckets_for(threshold)
    config = MinhashConfig(n_grams=N_GRAMS, num_buckets=buckets, hashes_per_bucket=per_bucket, seed=SEED,
                           hash_config=HashConfig(precision=64, hash_fc=HASH))
    # One input file, so stages 1 and 4 are one task each: MinhashDedupFilter passes a task's documents
    # through without their cluster ids when that task removed none, and a cluster's kept row could then
    # be in a task we would not hear from. Stage 2 (one task a bucket) runs on WORKERS processes.
    files = 1
    inputs = work / "input"
    inputs.mkdir(parents=True)
    pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), inputs / "00000.parquet")
    tokenizer = SpaceTokenizer()
    stages = [
        ([ParquetReader(str(inputs)),
          MinhashDedupSignature(output_folder=str(work / "signatures"), config=config, language=tokenizer)], files),
        ([MinhashDedupBuckets(input_folder=str(work / "signatures"), output_folder=str(work / "buckets"),
                              config=config)], buckets),
        ([MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "clusters"),
                              config=config, save_cluster_id=True)], 1),
        ([ParquetReader(str(inputs)),
          MinhashDedupFilter(input_folder=str(work / "clusters"), load_cluster_ids=True,
                             exclusion_writer=ParquetWriter(str(work / "removed"), adapter=_id_and_cluster)),
          ParquetWriter(str(work / "kept"), adapter=_id_and_cluster)], files),
    ]
    log = work / "datatrove.log"
    try:
        with _stderr_to(log):
            for number, (pipeline, tasks) in enumerate(stages, 1):
                LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(WORKERS, tasks),
                                      logging_dir=str(work / "logs" / f"stage{number}"), skip_completed=False,
                                      start_method="fork").run()
    except Exception as e:  # a failed task: datatrove raises after logging it
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CurationError(f"datatrove's MinHash stages failed: {first}",
                            hint=(tail[0][:200] if tail else None)) from e
    clusters: dict[int, list[int]] = {}
    for folder in ("kept", "removed"):
        if (work / folder).is_dir():
            for path in sorted((work / folder).glob("*.parquet")):
                for row in pq.read_table(path).to_pylist():
                    if row["cluster"] >= 0:
                        clusters.setdefault(row["cluster"], []).append(row["id"])
    duplicates = [Duplicate(row, None, of_row=min(members))
                  for members in clusters.values() for row in members if row != min(members)]
    entry = {"n_grams": N_GRAMS, "num_buckets": buckets, "hashes_per_bucket": per_bucket, "seed": SEED,
             "hash": HASH, "tokenizer": "whitespace", "kept_in_cluster": "earliest row"}
    return sorted(duplicates, key=lambda d: d.row), entry


def refuse_against(against: str | None) -> None:
    """--against with this engine: a one-line BadInput (see the module's docstring)."""
    if against:
        raise BadInput("--engine datatrove cannot compare with an Argilla dataset (--against)",
                       hint="use --engine curation for --against, or leave --against out")


def dedup_batch_datatrove(batch: Batch, *, threshold: float, against: str | None = None,
                          include_response: bool = False, out=None) -> Batch:
    """Write the child batch of `batch` without the near-duplicates datatrove finds (see the module's docstring)."""
    threshold = check_threshold(threshold)
    refuse_against(against)
    version = require_datatrove()
    texts = _row_texts(batch, include_response)
    with tempfile.TemporaryDirectory(prefix="curation-datatrove-") as work:
        duplicates, config = find_duplicates_datatrove(texts, threshold, Path(work))
    buckets, per_bucket = config["num_buckets"], config["hashes_per_bucket"]
    details = {
        "engine": "datatrove",
        "threshold": threshold,
        "removed": len(duplicates),
        "within_batch": len(duplicates),
        "against_dataset": 0,
        "compared": f"{c.COL_INSTRUCTION}+{c.COL_RESPONSE}" if include_response else c.COL_INSTRUCTION,
        "shingles": f"word-{N_GRAMS}gram",
        "num_perm": buckets * per_bucket,
        "against": None,
        "dropped_file": DROPPED_FILE,
        "datatrove": {"version": version, **config},
    }
    return write_dedup_child(batch, duplicates, details, out=out)
