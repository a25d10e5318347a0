"""Near-duplicates out of a batch before review: MinHash over the instruction (optionally + responses).

How two rows are compared:

- **Text**: the instruction; with `include_response`, the instruction and the response (sft)
  or every candidate response (preference), one after the other.
- **Shingles**: the text casefolded, every run of characters that are not letters or digits
  made one space, then its character 5-grams (a text shorter than that is one shingle).
  Characters rather than words: instructions are short (10 to 30 words), and character
  shingles give enough of them for a steady estimate, see a changed ending or a typo as the
  small change it is, and need no tokenizer or language data.
- **Similarity**: datasketch's `MinHash` (128 permutations; each shingle hashed by CRC-32, which
  datasketch then mixes and permutes: about three times the speed of its default SHA-1)
  estimates the Jaccard similarity of two shingle sets (standard error about 0.035 at 0.8).
  `MinHashLSH` proposes candidates, tuned to miss few (`LSH_WEIGHTS`: at 0.8 its bands find 95%
  of the pairs, against 40% with datasketch's default balance), and a candidate whose
  estimated similarity is at least the threshold is a duplicate, so the extra candidates cost
  only their check.

Which row goes: rows are visited in batch order; a row is dropped when it is that similar
to a record already in the Argilla dataset (`against`) or to an earlier row that was kept;
otherwise it is kept and indexed. So the first occurrence stays, and every dropped row names
the kept row (its index in the parent batch) or the record (its id) it is most similar to.
Only kept rows are indexed, so a chain a~b~c with a and c below the threshold keeps a and c.

The result is a child batch (`curation.batch.write_child_batch`): the kept rows in their
order, `dropped.parquet` beside them (each dropped row, whole, plus `parent_row`,
`duplicate_of_row`, `duplicate_of_record`, `similarity`, `found_in`), and the manifest's
`dedup` section with the counts. A batch is never rewritten in place: record ids are row
positions.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation import contract as c
from curation.batch import ROWS_FILE, Batch, with_drop_columns, write_child_batch
from curation.errors import BadInput

DEFAULT_THRESHOLD = 0.8
NUM_PERM = 128
LSH_WEIGHTS = (0.05, 0.95)  # datasketch's (false positive, false negative) weights for choosing its bands
# datasketch cannot choose bands for a threshold of 1 ("number of bands are too small"). Identical
# signatures share every band, so an index built for just under 1 still proposes every one of
# them, and the exact comparison in `best` keeps only those.
LSH_MAX_THRESHOLD = 0.99
SHINGLE_CHARS = 5
DROPPED_FILE = "dropped.parquet"
SHINGLES = f"char-{SHINGLE_CHARS}gram"
_NOT_WORD = re.compile(r"[\W_]+")
_CHUNK = 2048  # rows hashed at once: bounded memory whatever the batch size


def check_threshold(threshold: float) -> float:
    """A usable threshold (0 < T <= 1), else a one-line BadInput."""
    if not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise BadInput(f"the dedup threshold must be above 0 and at most 1, got {threshold!r}",
                       hint=f"e.g. --threshold {DEFAULT_THRESHOLD} (estimated Jaccard similarity of the texts)")
    return float(threshold)


def shingles(text: str | None, n: int = SHINGLE_CHARS) -> set[bytes]:
    """The character n-grams of `text` after casefolding and collapsing non-alphanumerics to one space."""
    norm = _NOT_WORD.sub(" ", (text or "").casefold()).strip()
    if len(norm) <= n:
        return {norm.encode()}
    return {norm[i:i + n].encode() for i in range(len(norm) - n + 1)}


def signatures(texts: Iterable[str]) -> np.ndarray:
    """MinHash signatures of `texts`, one uint32 row of NUM_PERM values each."""
    from datasketch import MinHash

    out = []
    texts = list(texts)
    for start in range(0, len(texts), _CHUNK):
        hashes = MinHash.bulk([shingles(t) for t in texts[start:start + _CHUNK]], num_perm=NUM_PERM,
                              hashfunc=zlib.crc32)
        out.extend(h.hashvalues for h in hashes)
    return np.array(out, dtype=np.uint32).reshape(len(out), NUM_PERM)


def row_text(kind: str, row: dict, include_response: bool = False) -> str:
    """What a batch row is compared by."""
    parts = [row.get(c.COL_INSTRUCTION) or ""]
    if include_response:
        parts += [row.get(c.COL_RESPONSE) or ""] if kind == "sft" else list(row.get(c.COL_GENERATIONS) or [])
    return "\n".join(p for p in parts if p)


def record_text(fields: dict, include_response: bool = False) -> str:
    """What an Argilla record is compared by: the same text as `row_text`, read from its fields."""
    parts = [fields.get(c.INSTRUCTION) or ""]
    if include_response:
        if fields.get(c.GENERATED_RESPONSE):
            parts.append(fields[c.GENERATED_RESPONSE])
        candidates = sorted((k for k in fields if re.fullmatch(r"response_\d+", k)), key=c.candidate_number)
        parts += [fields[k] or "" for k in candidates]
    return "\n".join(str(p) for p in parts if p)


@dataclass(frozen=True)
class Duplicate:
    """Row `row` is a near-duplicate of kept row `of_row` or of dataset record `of_record`."""

    row: int
    similarity: float
    of_row: int | None = None
    of_record: str | None = None

    @property
    def found_in(self) -> str:
        return "dataset" if self.of_record is not None else "batch"


class NearDuplicateIndex:
    """Kept texts' signatures in a MinHashLSH; `best(sig)` is the most similar one at or above the threshold."""

    def __init__(self, threshold: float):
        from datasketch import MinHashLSH

        self.threshold = check_threshold(threshold)
        self.lsh = MinHashLSH(threshold=min(self.threshold, LSH_MAX_THRESHOLD), num_perm=NUM_PERM,
                              weights=LSH_WEIGHTS)
        self._template = None
        self._keys: list = []
        self._sigs: list[np.ndarray] = []

    def _minhash(self, sig: np.ndarray):
        from datasketch import LeanMinHash, MinHash

        if self._template is None:
            self._template = LeanMinHash(MinHash(num_perm=NUM_PERM))
        return LeanMinHash(seed=self._template.seed, hashvalues=sig, scheme=self._template.scheme)

    def add(self, key, sig: np.ndarray) -> None:
        self.lsh.insert(len(self._keys), self._minhash(sig), check_duplication=False)
        self._keys.append(key)
        self._sigs.append(sig)

    def best(self, sig: np.ndarray) -> tuple[object, float] | None:
        """(key, estimated similarity) of the most similar indexed text at or above the threshold;
        the earliest added wins a tie."""
        found = sorted(self.lsh.query(self._minhash(sig)))
        if not found:
            return None
        similarity = (np.stack([self._sigs[i] for i in found]) == sig).mean(axis=1)
        top = int(np.argmax(similarity))  # first maximum: the earliest added
        if similarity[top] < self.threshold:
            return None
        return self._keys[found[top]], float(similarity[top])


def find_duplicates(texts: list[str], threshold: float = DEFAULT_THRESHOLD,
                    against: Iterable[tuple[str, str]] = ()) -> list[Duplicate]:
    """The near-duplicates among `texts` (in order: the first occurrence is kept) and of the
    (record id, text) pairs in `against`, which win over an earlier row when both match."""
    records = NearDuplicateIndex(threshold)
    for chunk in _chunks(against):
        for (record_id, _), sig in zip(chunk, signatures(t for _, t in chunk)):
            records.add(record_id, sig)
    kept = NearDuplicateIndex(threshold)
    duplicates = []
    start = 0
    for chunk in _chunks(texts):
        for offset, sig in enumerate(signatures(chunk)):
            row = start + offset
            if (match := records.best(sig)) is not None:
                duplicates.append(Duplicate(row, match[1], of_record=str(match[0])))
            elif (match := kept.best(sig)) is not None:
                duplicates.append(Duplicate(row, match[1], of_row=int(match[0])))
            else:
                kept.add(row, sig)
        start += len(chunk)
    return duplicates


def _chunks(items: Iterable, size: int = _CHUNK) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def dataset_texts(name: str, workspace: str | None, include_response: bool = False, client=None) -> Iterator[tuple[str, str]]:
    """(record id, text) of every record of Argilla dataset `name`: its external id (`<batch>:<row>`
    for records pushed by curate), else the server's id."""
    from curation.argilla.datasets import require_dataset
    from curation.argilla.records import iter_records

    if client is None:
        from curation.argilla.client import connect

        client = connect()
    dataset = require_dataset(client, name, workspace)
    for item in iter_records(client, dataset.id):
        yield str(item.get("external_id") or item["id"]), record_text(item.get("fields") or {}, include_response)


def dedup_batch(batch: Batch, *, threshold: float = DEFAULT_THRESHOLD, against: str | None = None,
                workspace: str | None = None, include_response: bool = False, out=None, client=None) -> Batch:
    """Write the child batch of `batch` without its near-duplicates (see the module's docstring)."""
    threshold = check_threshold(threshold)
    rows = batch.rows()
    records = list(dataset_texts(against, workspace, include_response, client)) if against else []
    duplicates = find_duplicates([row_text(batch.kind, r, include_response) for r in rows], threshold, against=records)
    dropped = {d.row for d in duplicates}
    details = {
        "threshold": threshold,
        "removed": len(duplicates),
        "within_batch": sum(d.found_in == "batch" for d in duplicates),
        "against_dataset": sum(d.found_in == "dataset" for d in duplicates),
        "compared": f"{c.COL_INSTRUCTION}+{c.COL_RESPONSE}" if include_response else c.COL_INSTRUCTION,
        "shingles": SHINGLES,
        "num_perm": NUM_PERM,
        "against": {"dataset": against, "workspace": workspace, "records": len(records)} if against else None,
        "dropped_file": DROPPED_FILE,
    }
    return write_child_batch(batch, [r for i, r in enumerate(rows) if i not in dropped], derived_by="dedup",
                             details=details, out=out, tables={DROPPED_FILE: _dropped_table(batch, duplicates)})


def _dropped_table(batch: Batch, duplicates: list[Duplicate]) -> pa.Table:
    """The dropped rows, whole (the parent's schema, also when none was dropped), plus what they duplicate."""
    table = pq.read_table(batch.path / ROWS_FILE).take(pa.array([d.row for d in duplicates], type=pa.int64()))
    columns = {
        c.COL_PARENT_ROW: pa.array([d.row for d in duplicates], type=pa.int64()),
        "duplicate_of_row": pa.array([d.of_row for d in duplicates], type=pa.int64()),
        "duplicate_of_record": pa.array([d.of_record for d in duplicates], type=pa.string()),
        "similarity": pa.array([round(d.similarity, 4) for d in duplicates], type=pa.float64()),
        "found_in": pa.array([d.found_in for d in duplicates], type=pa.string()),
    }
    return with_drop_columns(table, columns)


def read_dropped(batch: Batch) -> list[dict]:
    """The rows a dedup child batch dropped ([] for a batch that is not one)."""
    path = batch.path / DROPPED_FILE
    return pq.read_table(path).to_pylist() if batch.manifest.get("derived_by") == "dedup" and path.is_file() else []
