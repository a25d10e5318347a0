"""Near-duplicates out of a batch before review: MinHash over the instruction (optionally + responses).

How two rows are compared:

- **Text**: the instruction; with `include_response`, the instruction and the response (sft)
  or every candidate response (preference), one after the other.
- **Shingles**: the text casefolded, every run of characters that are not letters or digits
  made one space, then its character 5-grams (a text shorter than that is one shingle).
  Characters rather than words: instructions are short (10 to 30 words), and character
  shingles give enough of them for a steady estimate, see a changed ending or a typo as the
  small change it is, and need no tokenizer or language data.
- **Similarity**: MinHash with 128 permutations estimates the Jaccard similarity of two shingle
  sets (standard error about 0.035 at 0.8). Each shingle is hashed once (a polynomial over its
  code points, mixed by MurmurHash3's 64-bit finalizer; the top 32 bits, made odd), and the 128
  permutations are multiplications of that hash by fixed odd 32-bit numbers modulo 2^32 (each a
  bijection, so each minimum is a MinHash value). All of it runs in numpy over a chunk of rows at
  once, normalization included: about ten times the speed of datasketch's `MinHash.bulk`, which
  this replaced, with the same precision and recall (bench/dedup.py measures both).
  LSH proposes candidates: the signature cut in bands, chosen as datasketch's `MinHashLSH` chooses
  them and tuned to miss few (`LSH_WEIGHTS`: at 0.8 its bands find 95% of the pairs, against 40%
  with datasketch's default balance); a candidate whose estimated similarity is at least the
  threshold is a duplicate, so the extra candidates cost only their check.
- **Scale**: a first pass keeps only each row's band keys (one 64-bit number a band: 128 bytes a
  row at 0.8); a row that shares no bucket with any other row or record can be neither dropped nor
  named, so it is kept without a look. Only the rows and records in a shared bucket get their
  signature again and go through the ordered check below, in a few Python dicts.

Which row goes: rows are visited in batch order; a row is dropped when it is that similar
to a record already in the Argilla dataset (`against`) or to an earlier row that was kept;
otherwise it is kept and indexed. So the first occurrence stays, and every dropped row names
the kept row (its index in the parent batch) or the record (its id) it is most similar to.
Only kept rows are indexed, so a chain a~b~c with a and c below the threshold keeps a and c.

The result is a child batch (`curation.batch.write_child_batch`): the kept rows in their
order, `dropped.parquet` beside them (each dropped row, whole, plus `parent_row`,
`duplicate_of_row`, `duplicate_of_record`, `similarity`, `found_in`), and the manifest's
`dedup` section with the counts (`engine: curation`; `write_dedup_child` writes the same for
curation.dedup_datatrove, which runs datatrove's MinHash stages instead). A batch is never
rewritten in place: record ids are row positions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation import contract as c
from curation.batch import ROWS_FILE, Batch, with_drop_columns, write_child_batch
from curation.errors import BadInput

DEFAULT_THRESHOLD = 0.8
NUM_PERM = 128
LSH_WEIGHTS = (0.05, 0.95)  # (false positive, false negative) weights for choosing the bands, as datasketch's
# At a threshold of 1 the choice degenerates to a single band (datasketch refused it: "number of
# bands are too small"). Identical signatures share every band, so bands chosen for just under 1
# still propose every one of them, and the exact comparison in `best` keeps only those.
LSH_MAX_THRESHOLD = 0.99
SHINGLE_CHARS = 5
DROPPED_FILE = "dropped.parquet"
SHINGLES = f"char-{SHINGLE_CHARS}gram"
_NOT_WORD = re.compile(r"[\W_]+")
_CHUNK = 2048  # rows normalized and hashed at once: bounded memory whatever the batch size
_BLOCK = 4096  # shingles permuted at once: NUM_PERM x 4096 x 4 bytes (2 MB) stays in the cache


def _splitmix64(seed: int, n: int) -> np.ndarray:
    """n fixed pseudo-random 64-bit numbers (splitmix64): the same on every machine and numpy version."""
    out = []
    for _ in range(n):
        seed = (seed + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = seed
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        out.append(z ^ (z >> 31))
    return np.array(out, dtype=np.uint64)


_SHINGLE_WEIGHTS = _splitmix64(1, SHINGLE_CHARS) | np.uint64(1)  # a shingle's polynomial over its code points
_PERMUTATIONS = (_splitmix64(2, NUM_PERM) >> np.uint64(32)).astype(np.uint32) | np.uint32(1)  # odd: bijections
_BAND_WEIGHTS = _splitmix64(3, NUM_PERM) | np.uint64(1)  # a band's key: a polynomial over its values
_IS_ALNUM = np.array([chr(i).isalnum() for i in range(128)] + [False])  # ASCII; others are looked up


def check_threshold(threshold: float) -> float:
    """A usable threshold (0 < T <= 1), else a one-line BadInput."""
    if not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise BadInput(f"the dedup threshold must be above 0 and at most 1, got {threshold!r}",
                       hint=f"e.g. --threshold {DEFAULT_THRESHOLD} (estimated Jaccard similarity of the texts)")
    return float(threshold)


def shingles(text: str | None, n: int = SHINGLE_CHARS) -> set[bytes]:
    """The character n-grams of `text` after casefolding and collapsing non-alphanumerics to one space.

    The definition; `signatures` computes the same sets in numpy, without building them."""
    norm = _NOT_WORD.sub(" ", (text or "").casefold()).strip()
    if len(norm) <= n:
        return {norm.encode()}
    return {norm[i:i + n].encode() for i in range(len(norm) - n + 1)}


def _normalized_code_points(texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code points, row starts, row lengths) of the texts normalized as `shingles` does, one NUL between rows.

    One casefold and numpy over the joined texts: 3.5 times the speed of a regex substitution per
    text, which would be more than a third of `signatures`' time."""
    joined = "\0".join(t or "" for t in texts)
    if joined.count("\0") != len(texts) - 1:  # a NUL inside a text: a non-word character like a space
        joined = "\0".join((t or "").replace("\0", " ") for t in texts)
    cp = np.frombuffer(joined.casefold().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    word = _IS_ALNUM[np.minimum(cp, 128)]
    if (high := cp >= 128).any():
        distinct, which = np.unique(cp[high], return_inverse=True)
        word[high] = np.array([chr(u).isalnum() for u in distinct.tolist()])[which]
    other = ~word & (cp != 0)
    # A run of other characters becomes one space between two word characters, and nothing at a text's ends.
    edges = np.diff(other.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    run_start, run_end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # [start, end)
    padded = np.concatenate(([False], word, [False]))
    inner = run_start[padded[run_start] & padded[run_end + 1]]
    keep = ~other
    keep[inner] = True
    cp = cp.copy()
    cp[inner] = ord(" ")
    cp = cp[keep]
    ends = np.append(np.flatnonzero(cp == 0), len(cp))
    starts = np.concatenate(([0], ends[:-1] + 1))
    return cp, starts, ends - starts


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, in place: every input bit reaches every output bit."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def _shingle_hashes(texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(one odd 32-bit hash per shingle occurrence, row offsets into it): rows' shingles one after the other.

    A shingle occurring twice in a row is hashed twice: a minimum does not mind."""
    n = SHINGLE_CHARS
    cp, starts, lengths = _normalized_code_points(texts)
    wide = np.concatenate((cp, np.zeros(n, dtype=np.uint32))).astype(np.uint64)
    windows = wide[:len(cp) + 1] * _SHINGLE_WEIGHTS[0]  # the shingle starting at each position
    for k in range(1, n):
        windows += wide[k:len(cp) + 1 + k] * _SHINGLE_WEIGHTS[k]
    counts = np.maximum(lengths - (n - 1), 1)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    hashes = windows[np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])]
    if (short := np.flatnonzero(lengths < n)).size:  # the whole text is the one shingle: padded with NULs
        at = starts[short, None] + np.arange(n)
        chars = np.where(np.arange(n) < lengths[short, None], wide[np.minimum(at, len(wide) - 1)], np.uint64(0))
        hashes[offsets[short]] = (chars * _SHINGLE_WEIGHTS).sum(axis=1, dtype=np.uint64)
    return (_fmix64(hashes) >> np.uint64(32)).astype(np.uint32) | np.uint32(1), offsets


def _minhash(hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each row's NUM_PERM minima of its permuted shingle hashes, as a (NUM_PERM, rows) matrix."""
    rows = len(offsets) - 1
    out = np.full((NUM_PERM, rows), np.iinfo(np.uint32).max, dtype=np.uint32)
    buffer = np.empty(NUM_PERM * _BLOCK, dtype=np.uint32)
    row_starts = offsets[:-1]
    for a in range(0, len(hashes), _BLOCK):
        b = min(len(hashes), a + _BLOCK)
        permuted = buffer[:NUM_PERM * (b - a)].reshape(NUM_PERM, b - a)
        np.multiply(_PERMUTATIONS[:, None], hashes[None, a:b], out=permuted)
        first = int(np.searchsorted(row_starts, a, side="right")) - 1  # the row that holds shingle a
        last = int(np.searchsorted(row_starts, b, side="left"))  # rows [first, last) have shingles in [a, b)
        bounds = row_starts[first:last] - a
        bounds[0] = 0
        part = np.minimum.reduceat(permuted, bounds, axis=1)
        np.minimum(out[:, first:last], part, out=out[:, first:last])  # a row may span blocks
    return out


def signatures(texts: Iterable[str]) -> np.ndarray:
    """MinHash signatures of `texts`, one uint32 row of NUM_PERM values each."""
    texts = list(texts)
    out = np.empty((len(texts), NUM_PERM), dtype=np.uint32)
    for start in range(0, len(texts), _CHUNK):
        chunk = texts[start:start + _CHUNK]
        out[start:start + len(chunk)] = _minhash(*_shingle_hashes(chunk)).T
    return out


@lru_cache
def lsh_bands(threshold: float) -> tuple[int, int]:
    """(bands, rows a band) for this threshold: datasketch's `MinHashLSH` choice with `LSH_WEIGHTS`.

    The weighted areas under the S-curve 1 - (1 - s^r)^b, below the threshold (false positives)
    and above it (false negatives); the integrands are polynomials of degree at most NUM_PERM,
    so a Gauss-Legendre rule of 65 points or more gives them exactly."""
    threshold = min(check_threshold(threshold), LSH_MAX_THRESHOLD)
    nodes, weights = np.polynomial.legendre.leggauss(NUM_PERM)

    def area(b: int, r: int, low: float, high: float) -> float:
        s = (high - low) / 2 * nodes + (high + low) / 2
        return float((high - low) / 2 * weights @ (1 - (1 - s ** r) ** b))

    best, choice = float("inf"), (0, 0)
    for b in range(1, NUM_PERM + 1):
        for r in range(1, NUM_PERM // b + 1):
            fp = area(b, r, 0.0, threshold)
            fn = (1 - threshold) - area(b, r, threshold, 1.0)
            if (error := fp * LSH_WEIGHTS[0] + fn * LSH_WEIGHTS[1]) < best:
                best, choice = error, (b, r)
    return choice


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band of each signature (a (len(sigs), bands) matrix): equal bands, equal keys.

    Two different bands share a key with a chance of about 2^-64; when they do, the pair is only
    proposed, and the comparison of whole signatures decides."""
    values = sigs[:, :bands * rows].reshape(len(sigs), bands, rows)
    keys = np.zeros((len(sigs), bands), dtype=np.uint64)
    for j in range(rows):
        keys += values[:, :, j].astype(np.uint64) * _BAND_WEIGHTS[j]
    return keys


def _all_band_keys(texts: Sequence[str], bands: int, rows: int) -> np.ndarray:
    """`band_keys` of every text, the signatures dropped chunk by chunk: 8 bytes a band a text."""
    keys = np.empty((len(texts), bands), dtype=np.uint64)
    for start in range(0, len(texts), _CHUNK):
        chunk = texts[start:start + _CHUNK]
        keys[start:start + len(chunk)] = band_keys(signatures(chunk), bands, rows)
    return keys


def _shared_buckets(*keys: np.ndarray) -> list[np.ndarray]:
    """For each key matrix, which of its keys (rows x bands) another row of any of them has in the
    same band. Only rows with one can be dropped or named, and only through those bands."""
    sizes = [len(k) for k in keys]
    shared = np.zeros((sum(sizes), keys[0].shape[1]), dtype=bool)
    for band in range(keys[0].shape[1]):
        column = np.concatenate([k[:, band] for k in keys])
        order = np.argsort(column)
        same = column[order[1:]] == column[order[:-1]]
        shared[order[1:][same], band] = True
        shared[order[:-1][same], band] = True
    return np.split(shared, np.cumsum(sizes)[:-1])


def _shared_keys(keys: np.ndarray, shared: np.ndarray) -> list[int | None]:
    """A row's band keys, None for those no other row has (no bucket to look in or fill)."""
    return [key if is_shared else None for key, is_shared in zip(keys.tolist(), shared.tolist())]


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
    similarity: float | None  # None: the engine gives no estimate (datatrove's LSH has no check step)
    of_row: int | None = None
    of_record: str | None = None

    @property
    def found_in(self) -> str:
        return "dataset" if self.of_record is not None else "batch"


class NearDuplicateIndex:
    """Texts' signatures in LSH buckets (a dict a band); `best(sig)` is the most similar one at or above the threshold."""

    def __init__(self, threshold: float):
        self.threshold = check_threshold(threshold)
        self.bands, self.rows = lsh_bands(self.threshold)
        self._buckets: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        self._keys: list = []
        self._sigs: list[np.ndarray] = []

    def _band_keys(self, sig: np.ndarray, keys: Sequence[int | None] | None) -> Sequence[int | None]:
        return band_keys(sig[None], self.bands, self.rows)[0].tolist() if keys is None else keys

    def add(self, key, sig: np.ndarray, band_keys: Sequence[int | None] | None = None) -> None:
        """Index `sig` under `key`; `band_keys` when the caller has them already (None: a band to leave out)."""
        for bucket, band in zip(self._buckets, self._band_keys(sig, band_keys)):
            if band is not None:
                bucket.setdefault(band, []).append(len(self._keys))
        self._keys.append(key)
        self._sigs.append(sig)

    def best(self, sig: np.ndarray, band_keys: Sequence[int | None] | None = None) -> tuple[object, float] | None:
        """(key, estimated similarity) of the most similar indexed text at or above the threshold;
        the earliest added wins a tie."""
        found = set()
        for bucket, band in zip(self._buckets, self._band_keys(sig, band_keys)):
            if band is not None and band in bucket:
                found.update(bucket[band])
        if not found:
            return None
        found = sorted(found)
        similarity = (np.stack([self._sigs[i] for i in found]) == sig).mean(axis=1)
        top = int(np.argmax(similarity))  # first maximum: the earliest added
        if similarity[top] < self.threshold:
            return None
        return self._keys[found[top]], float(similarity[top])


def find_duplicates(texts: Sequence[str], threshold: float = DEFAULT_THRESHOLD,
                    against: Iterable[tuple[str, str]] = ()) -> list[Duplicate]:
    """The near-duplicates among `texts` (in order: the first occurrence is kept) and of the
    (record id, text) pairs in `against`, which win over an earlier row when both match."""
    threshold = check_threshold(threshold)
    records = list(against)
    bands, rows = lsh_bands(threshold)
    record_keys = _all_band_keys([t for _, t in records], bands, rows)
    row_keys = _all_band_keys(texts, bands, rows)
    record_shared, row_shared = _shared_buckets(record_keys, row_keys)

    record_index = NearDuplicateIndex(threshold)
    at = np.flatnonzero(record_shared.any(axis=1))
    for i, sig in zip(at.tolist(), signatures([records[i][1] for i in at])):
        record_index.add(records[i][0], sig, _shared_keys(record_keys[i], record_shared[i]))
    kept = NearDuplicateIndex(threshold)  # of the rows that share a bucket: no other row can match the rest
    duplicates = []
    at = np.flatnonzero(row_shared.any(axis=1))
    for start in range(0, len(at), _CHUNK):
        rows_here = at[start:start + _CHUNK].tolist()
        for row, sig in zip(rows_here, signatures([texts[i] for i in rows_here])):
            keys = _shared_keys(row_keys[row], row_shared[row])
            if records and (match := record_index.best(sig, keys)) is not None:
                duplicates.append(Duplicate(row, match[1], of_record=str(match[0])))
            elif (match := kept.best(sig, keys)) is not None:
                duplicates.append(Duplicate(row, match[1], of_row=int(match[0])))
            else:
                kept.add(row, sig, keys)
    return duplicates


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
    records = list(dataset_texts(against, workspace, include_response, client)) if against else []
    duplicates = find_duplicates(_row_texts(batch, include_response), threshold, against=records)
    table = _rows_table(batch)  # whole only now: the texts and the index are gone
    details = {
        "engine": "curation",
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
    return write_dedup_child(batch, duplicates, details, out=out, table=table)


def write_dedup_child(batch: Batch, duplicates: list[Duplicate], details: dict, *, out=None,
                      table: pa.Table | None = None) -> Batch:
    """The child batch without `duplicates`, `dropped.parquet` beside it, `details` as the manifest's `dedup`:
    one writer for every engine (curation.dedup_datatrove too), so their batches have one shape."""
    table = _rows_table(batch) if table is None else table
    keep = np.ones(table.num_rows, dtype=bool)
    keep[[d.row for d in duplicates]] = False
    return write_child_batch(batch, table.filter(pa.array(keep)), derived_by="dedup", details=details, out=out,
                             tables={DROPPED_FILE: _dropped_table(table, duplicates)})


def _rows_table(batch: Batch, columns: list[str] | None = None) -> pa.Table:
    """The batch's rows (or those of these columns it has) as one Arrow table, never as dicts all at once
    (those were most of a large batch's memory); a damaged file is the one-line error `Batch.rows` gives."""
    path = batch.path / ROWS_FILE
    try:
        if columns is not None:
            columns = [name for name in columns if name in pq.read_schema(path).names]
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError, ValueError):
        batch.rows()  # raises the one-line error a damaged rows file gets everywhere
        raise


def _row_texts(batch: Batch, include_response: bool) -> list[str]:
    """`row_text` of every row, reading only the columns it compares, a slice of rows at a time."""
    wanted = [c.COL_INSTRUCTION] + ([c.COL_RESPONSE, c.COL_GENERATIONS] if include_response else [])
    texts: list[str] = []
    for part in _rows_table(batch, wanted).to_batches(max_chunksize=_CHUNK):
        texts.extend(row_text(batch.kind, row, include_response) for row in part.to_pylist())
    return texts


def _dropped_table(rows: pa.Table, duplicates: list[Duplicate]) -> pa.Table:
    """The dropped rows, whole (the parent's schema, also when none was dropped), plus what they duplicate."""
    table = rows.take(pa.array([d.row for d in duplicates], type=pa.int64()))
    columns = {
        c.COL_PARENT_ROW: pa.array([d.row for d in duplicates], type=pa.int64()),
        "duplicate_of_row": pa.array([d.of_row for d in duplicates], type=pa.int64()),
        "duplicate_of_record": pa.array([d.of_record for d in duplicates], type=pa.string()),
        "similarity": pa.array([None if d.similarity is None else round(d.similarity, 4) for d in duplicates],
                               type=pa.float64()),
        "found_in": pa.array([d.found_in for d in duplicates], type=pa.string()),
    }
    return with_drop_columns(table, columns)


def read_dropped(batch: Batch) -> list[dict]:
    """The rows a dedup child batch dropped ([] for a batch that is not one)."""
    path = batch.path / DROPPED_FILE
    return pq.read_table(path).to_pylist() if batch.manifest.get("derived_by") == "dedup" and path.is_file() else []
