"""Benchmark contamination out of a batch: rows sharing a word n-gram with an evaluation set go.

How a row is compared:

- **Texts**: the instruction and the responses: `response` (sft) or every candidate in
  `generations` (preference); on the benchmark side every string (or list-of-strings) column,
  or the `columns` named. Each text is compared on its own (an n-gram never spans two texts).
- **Words**: the text lowercased, every run of characters that are not letters or digits made
  a space (punctuation stripped: "don't" is "don t"), split on whitespace.
- **N-grams**: every run of N consecutive words (N = 13 by default, the size GPT-3's and NeMo
  Curator's decontamination use). A row is contaminated when one of its texts shares an N-gram
  with a benchmark text.
- **Texts shorter than N words**: a row text of 1 to N-1 words is compared whole: it is
  contaminated when a benchmark text contains those words in that order (a short instruction
  copied from a benchmark prompt, or a benchmark prompt's inside). A benchmark text shorter
  than N words is therefore only found in row texts no longer than itself: for a benchmark of
  short prompts, lower `--ngram` (GPT-3 chose N per benchmark from its 5th-percentile length).

How it stays fast and bounded: the benchmarks are read once; each distinct benchmark word gets
a random 64-bit value, and an n-gram's hash is a polynomial of its words' values (mod 2^64,
computed for every window at once from prefix sums). The benchmark n-gram hashes are kept as
one sorted numpy array (8 bytes an n-gram, plus which benchmark text holds it), built once per
n-gram length. The batch is streamed in Arrow record batches: a row word that is in no
benchmark cannot be in a shared n-gram, so it just breaks the windows around it. A hash found
in the index is confirmed on the words themselves before a row is dropped (no false positive
from a hash collision).

Which benchmark is named: the one holding the row's first shared n-gram, reading the
instruction first, then the responses in order; an n-gram found in several benchmarks names
the first given. So each dropped row counts for exactly one benchmark.

The result is a child batch (`curation.batch.write_child_batch`), as `curate dedup` writes:
the kept rows in order, `dropped.parquet` (each dropped row whole plus `parent_row`,
`benchmark`, `benchmark_split`, `benchmark_row`, `benchmark_column`, `matched_in`, `ngram`) and
the manifest's `decontamination` section (n-gram size, and per benchmark its name, source,
sha256 or `datasets` fingerprint, rows read, rows dropped for it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.batch import ROWS_FILE, Batch, RowStream, file_sha256, with_drop_columns, write_child_batch
from curation.contract import COL_GENERATIONS, COL_INSTRUCTION, COL_PARENT_ROW, COL_RESPONSE
from curation.errors import BadInput

DEFAULT_NGRAM = 13
DROPPED_FILE = "dropped.parquet"  # the same name `curate dedup` uses: one place to look in any child batch
SECTION = "decontamination"
FILE_FORMATS = (".jsonl", ".parquet", ".csv")
_WORD_BREAK = r"[^\p{L}\p{N}]+"  # RE2 (Arrow's regex engine): anything but letters and digits
_ROWS_PER_CHUNK = 4096  # batch rows read at once: bounded memory whatever the batch size
_SEED = 20261203  # word values are random but fixed, so a run is reproducible
_FILTER_FROM = 10_000  # hashes looked up at once above which the prefilter pays for itself
_MULTIPLIER = 0x9E3779B97F4A7C15  # odd, so invertible mod 2^64 (window hashes from prefix sums)


def check_ngram(n) -> int:
    """A usable n-gram size (a whole number >= 1), else a one-line BadInput."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BadInput(f"the n-gram size must be a whole number of at least 1, got {n!r}",
                       hint=f"e.g. --ngram {DEFAULT_NGRAM} (words in a row shared with a benchmark)")
    return n


# --- words ---------------------------------------------------------------------------------

def _ascii_table() -> np.ndarray:
    """Byte -> byte: ASCII letters lowercased, digits kept, every other ASCII byte a space (UTF-8 bytes kept)."""
    table = np.full(256, ord(" "), dtype=np.uint8)
    table[128:] = np.arange(128, 256)
    for b in range(128):
        if chr(b).isalnum():
            table[b] = ord(chr(b).lower())
    return table


_ASCII = _ascii_table()


def _spaced(texts: pa.Array) -> pa.Array:
    """`texts` lowercased with every run of non-letters/digits a space: a byte table for ASCII texts
    (most of them, at memory speed), Arrow's regex for the others (Unicode letters and punctuation)."""
    data = texts.buffers()[2]
    mapped = pa.Array.from_buffers(pa.large_string(), len(texts), [None, texts.buffers()[1],
                                   pa.py_buffer(_ASCII[np.frombuffer(data, dtype=np.uint8)] if data else b"")],
                                   offset=texts.offset)
    ascii_only = pc.string_is_ascii(texts)
    if pc.all(ascii_only).as_py() is not False:
        return mapped
    others = pc.if_else(ascii_only, "", texts)
    return pc.if_else(ascii_only, mapped, pc.replace_substring_regex(pc.utf8_lower(others), _WORD_BREAK, " "))


def tokenize(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(every word of every text, one flat string array; offsets: text i is words[off[i]:off[i+1]])."""
    texts = pc.fill_null(texts.cast(pa.large_string()), "")
    # after _spaced every separator is an ASCII space, and no UTF-8 byte of a letter is one
    lists = pc.ascii_split_whitespace(_spaced(texts))
    flat = lists.flatten()
    offsets = lists.offsets.to_numpy().astype(np.int64)
    offsets -= offsets[0]
    keep = pc.binary_length(flat).to_numpy() > 0  # a leading or trailing space splits off an empty word
    if keep.all():
        return flat, offsets
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    return flat.filter(pa.array(keep)), kept_before[offsets]


def normalize(text: str) -> list[str]:
    """The words of `text` as compared (lowercased, punctuation stripped)."""
    words, _ = tokenize(pa.array([text]))
    return words.to_pylist()


class _Hasher:
    """Polynomial hashes of word windows: H(i, k) = sum_j value[word i+j] * M^j (mod 2^64)."""

    def __init__(self):
        self._pow = np.ones(1, dtype=np.uint64)
        self._inv_pow = np.ones(1, dtype=np.uint64)

    def _powers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._pow) < n:
            size = max(n, 2 * len(self._pow))
            self._pow = self._cumulative_powers(_MULTIPLIER, size)
            self._inv_pow = self._cumulative_powers(pow(_MULTIPLIER, -1, 1 << 64), size)
        return self._pow[:n], self._inv_pow[:n]

    @staticmethod
    def _cumulative_powers(base: int, size: int) -> np.ndarray:
        """[1, base, base^2, ...] mod 2^64 (uint64 arithmetic wraps)."""
        factors = np.full(size, base, dtype=np.uint64)
        factors[0] = 1
        return np.cumprod(factors, dtype=np.uint64)

    def prefix(self, values: np.ndarray) -> np.ndarray:
        """P[i] = sum_{t<i} values[t] * M^t, so that H(i, k) = (P[i+k] - P[i]) * M^-i."""
        powers, _ = self._powers(len(values))
        out = np.zeros(len(values) + 1, dtype=np.uint64)
        np.cumsum(values * powers, dtype=np.uint64, out=out[1:])
        return out

    def windows(self, prefix: np.ndarray, starts: np.ndarray, k) -> np.ndarray:
        _, inverse = self._powers(len(prefix))
        return (prefix[starts + k] - prefix[starts]) * inverse[starts]


# --- benchmarks ----------------------------------------------------------------------------

@dataclass
class Benchmark:
    """One evaluation set's texts: `texts[i]` came from (split, row, column) `origin[i]`."""

    name: str
    source: str
    fingerprint: dict  # {"sha256": ...} of a file, or {"fingerprint": {split: ...}} of a `datasets` dataset
    rows: int
    columns: list[str]
    texts: pa.Array
    origin: list[tuple[str | None, int, str]] = field(repr=False)

    def manifest_entry(self, dropped: int) -> dict:
        return {"name": self.name, "source": self.source, **self.fingerprint, "rows": self.rows,
                "columns": self.columns, "rows_dropped": dropped}


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_text_list(t: pa.DataType) -> bool:
    return (pa.types.is_list(t) or pa.types.is_large_list(t)) and _is_text(t.value_type)


def _texts_of(name: str, source: str, splits: dict[str | None, pa.Table], columns: list[str] | None,
              fingerprint: dict) -> Benchmark:
    """The benchmark's texts: every string or list-of-strings column, or exactly `columns`."""
    texts: list[pa.Array] = []
    origin: list[tuple[str | None, int, str]] = []
    used: list[str] = []
    for split, table in splits.items():
        if columns:
            if missing := [c for c in columns if c not in table.column_names]:
                raise BadInput(f"benchmark {source}{f' ({split})' if split else ''} has no column "
                               f"{', '.join(repr(m) for m in missing)}",
                               hint=f"its columns: {', '.join(table.column_names)}")
            chosen = columns
        else:
            chosen = [f.name for f in table.schema if _is_text(f.type) or _is_text_list(f.type)]
        for column in chosen:
            values = table.column(column).combine_chunks()
            if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
                rows = pc.list_parent_indices(values).to_numpy()
                values = pc.list_flatten(values)
            else:
                rows = np.arange(len(values))
            try:  # a named number or label column is compared as its text
                texts.append(values.cast(pa.large_string()))
            except pa.ArrowException:
                raise BadInput(f"column {column!r} of benchmark {source} ({values.type}) cannot be compared as text",
                               hint="name text columns with --columns") from None
            origin += [(split, int(r), column) for r in rows]
            if column not in used:
                used.append(column)
    if not used:
        raise BadInput(f"benchmark {source} has no text column", hint="name the columns to compare with --columns a,b")
    rows = sum(t.num_rows for t in splits.values())
    all_texts = pa.concat_arrays(texts) if texts else pa.array([], pa.large_string())
    return Benchmark(name, source, fingerprint, rows, used, all_texts, origin)


def _read_file(path: Path) -> pa.Table:
    import pyarrow.csv
    import pyarrow.json

    readers = {".jsonl": pyarrow.json.read_json, ".parquet": pq.read_table, ".csv": pyarrow.csv.read_csv}
    try:
        return readers[path.suffix.lower()](path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise BadInput(f"benchmark file {path} cannot be read as {path.suffix} ({reason})",
                       hint={".jsonl": "a .jsonl file holds one JSON object a line",
                             ".csv": "a .csv file starts with a header line naming its columns"}.get(
                                 path.suffix.lower(), "check the file, or write it again")) from None


def _load_dataset(value: str):
    """A `datasets` dataset: a folder written by `save_to_disk`, else whatever `load_dataset` loads."""
    import datasets

    path = Path(value).expanduser()
    try:
        if path.is_dir() and any((path / f).is_file() for f in ("dataset_dict.json", "state.json")):
            return datasets.load_from_disk(str(path))
        name, _, config = value.partition(":") if not path.exists() else (value, "", "")
        return datasets.load_dataset(name, config or None)
    except Exception as exc:  # noqa: BLE001 - `datasets` raises many kinds for a name it cannot load
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise BadInput(f"cannot load benchmark {value!r} with datasets ({reason})",
                       hint="give a .jsonl/.parquet/.csv file, a folder saved by datasets, or a Hub "
                            "dataset name (NAME or NAME:CONFIG; needs the network or the local cache)") from None


def load_benchmark(value: str, columns: list[str] | None = None) -> Benchmark:
    """A benchmark from a local file (.jsonl/.parquet/.csv) or a `datasets` name or folder."""
    path = Path(value).expanduser()
    if path.is_file():
        if path.suffix.lower() not in FILE_FORMATS:
            raise BadInput(f"benchmark file {path} is not {', '.join(FILE_FORMATS)}",
                           hint="convert it, or give a dataset `datasets.load_dataset` can load")
        return _texts_of(path.stem, str(path.resolve()), {None: _read_file(path)}, columns,
                         {"sha256": file_sha256(path)})
    if not path.exists() and (path.suffix.lower() in FILE_FORMATS or value.startswith((".", "/", "~"))):
        raise BadInput(f"no benchmark file {value}", hint="check the path given to --against")
    import datasets

    loaded = _load_dataset(value)
    splits = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {None: loaded}
    tables = {split: ds.with_format("arrow")[:] for split, ds in splits.items()}
    fingerprint = {"fingerprint": {str(split): ds._fingerprint for split, ds in splits.items()}}
    name = path.name if path.exists() else value
    source = str(path.resolve()) if path.exists() else value
    return _texts_of(name, source, tables, columns, fingerprint)


class BenchmarkIndex:
    """The benchmarks' n-gram hashes, sorted, for membership tests of streamed batch rows."""

    def __init__(self, benchmarks: list[Benchmark], n: int = DEFAULT_NGRAM):
        self.n = check_ngram(n)
        self.benchmarks = benchmarks
        texts = pa.concat_arrays([b.texts for b in benchmarks]) if benchmarks else pa.array([], pa.large_string())
        self._bench_of_text = np.repeat(np.arange(len(benchmarks)), [len(b.texts) for b in benchmarks])
        self._first_text = np.concatenate([[0], np.cumsum([len(b.texts) for b in benchmarks])]).astype(np.int64)
        self.words, self.offsets = tokenize(texts)
        self.vocabulary = pc.unique(self.words)
        rng = np.random.default_rng(_SEED)
        self._values = rng.integers(0, np.iinfo(np.uint64).max, size=len(self.vocabulary), dtype=np.uint64,
                                    endpoint=True)
        self._hasher = _Hasher()
        ids = pc.index_in(self.words, value_set=self.vocabulary).to_numpy().astype(np.int64)
        self._prefix = self._hasher.prefix(self._values[ids])
        self._ids = ids
        self._text_of_word = np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))
        self._by_length: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._filters: dict[int, tuple[np.uint64, np.ndarray]] = {}

    def _index(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(sorted unique hashes of every k-gram of the benchmark texts, the first text holding each)."""
        if k not in self._by_length:
            starts = np.arange(max(len(self._ids) - k + 1, 0))
            starts = starts[starts + k <= self.offsets[self._text_of_word[starts] + 1]] if len(starts) else starts
            hashes = self._hasher.windows(self._prefix, starts, k)
            order = np.argsort(hashes, kind="stable")  # stable: the first benchmark, then first text, wins
            hashes, texts = hashes[order], self._text_of_word[starts[order]]
            first = np.concatenate([[True], hashes[1:] != hashes[:-1]]) if len(hashes) else np.zeros(0, bool)
            self._by_length[k] = (hashes[first], texts[first])
        return self._by_length[k]

    def _filter(self, k: int) -> tuple[np.uint64, np.ndarray]:
        """(shift, table): table[hash >> shift] is False for most hashes not in the k-gram index. A gather
        from a table that fits in cache costs a few ns a hash; a binary search of a large index, a hundred."""
        if k not in self._filters:
            index, _ = self._index(k)
            bits = int(min(max(len(index) * 8, 1 << 10), 1 << 27)).bit_length()  # about 1/8 of it set, at most 128 MB
            table = np.zeros(1 << bits, dtype=bool)
            shift = np.uint64(64 - bits)
            table[index >> shift] = True
            self._filters[k] = (shift, table)
        return self._filters[k]

    def lookup(self, hashes: np.ndarray, k: int) -> np.ndarray:
        """The benchmark text holding each k-gram hash, -1 where none does."""
        index, texts = self._index(k)
        out = np.full(len(hashes), -1, dtype=np.int64)
        if not len(index) or not len(hashes):
            return out
        candidates = np.arange(len(hashes))
        if len(hashes) > _FILTER_FROM:
            shift, table = self._filter(k)
            candidates = np.flatnonzero(table[hashes >> shift])
        wanted = hashes[candidates]
        at = np.minimum(np.searchsorted(index, wanted), len(index) - 1)
        found = index[at] == wanted
        out[candidates[found]] = texts[at[found]]
        return out

    def contains(self, text: int, words: list[str]) -> bool:
        """Whether benchmark text `text` holds `words` in that order (confirms a hash match)."""
        own = self.words[int(self.offsets[text]):int(self.offsets[text + 1])].to_pylist()
        k = len(words)
        return any(own[i:i + k] == words for i in range(len(own) - k + 1))

    def where(self, text: int) -> tuple[int, str | None, int, str]:
        """(benchmark number, split, row, column) of benchmark text `text`."""
        b = int(self._bench_of_text[text])
        split, row, column = self.benchmarks[b].origin[text - int(self._first_text[b])]
        return b, split, row, column


# --- the batch -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Contamination:
    """Batch row `row` shares `ngram` (its `matched_in` text) with a benchmark text."""

    row: int
    benchmark: int
    split: str | None
    benchmark_row: int
    column: str
    matched_in: str
    ngram: str


def _row_texts(chunk: pa.RecordBatch, kind: str) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(texts, the chunk row of each, slot: 0 the instruction, 1.. the responses in order)."""
    n = chunk.num_rows
    names = chunk.schema.names
    texts = [chunk.column(names.index(COL_INSTRUCTION)) if COL_INSTRUCTION in names else pa.nulls(n, pa.string())]
    rows, slots = [np.arange(n)], [np.zeros(n, np.int64)]
    if kind == "sft" and COL_RESPONSE in names:
        texts.append(chunk.column(names.index(COL_RESPONSE)))
        rows.append(np.arange(n))
        slots.append(np.ones(n, np.int64))
    elif kind == "preference" and COL_GENERATIONS in names:
        generations = chunk.column(names.index(COL_GENERATIONS))
        parents = pc.list_parent_indices(generations).to_numpy().astype(np.int64)
        texts.append(pc.list_flatten(generations))
        rows.append(parents)
        slots.append(1 + np.arange(len(parents)) - np.searchsorted(parents, parents))  # 1 + position in the list
    return (pa.concat_arrays([t.cast(pa.large_string()) for t in texts]), np.concatenate(rows),
            np.concatenate(slots))


def _slot_name(kind: str, slot: int) -> str:
    if slot == 0:
        return COL_INSTRUCTION
    return COL_RESPONSE if kind == "sft" else f"{COL_GENERATIONS}[{slot - 1}]"


def find_contamination(index: BenchmarkIndex, chunk: pa.RecordBatch, kind: str, first_row: int = 0) -> list[Contamination]:
    """The contaminated rows of one chunk of batch rows (see the module's docstring), in row order."""
    n = index.n
    if not len(index.vocabulary):
        return []  # no benchmark word at all: nothing can be shared
    texts, text_row, text_slot = _row_texts(chunk, kind)
    words, offsets = tokenize(texts)
    ids = pc.index_in(words, value_set=index.vocabulary).fill_null(-1).to_numpy().astype(np.int64)
    lengths = np.diff(offsets)
    known = ids >= 0
    prefix = index._hasher.prefix(np.where(known, index._values[np.maximum(ids, 0)], 0).astype(np.uint64))
    unknown_before = np.concatenate([[0], np.cumsum(~known)])
    text_of_word = np.repeat(np.arange(len(lengths)), lengths)

    hits = []  # (text, start, k, benchmark text)
    # texts of at least n words: every n-word window inside one text with no word unknown to the benchmarks
    starts = np.arange(max(len(ids) - n + 1, 0))
    if len(starts):
        starts = starts[(starts + n <= offsets[text_of_word[starts] + 1])
                        & (unknown_before[starts + n] == unknown_before[starts])]
        found = index.lookup(index._hasher.windows(prefix, starts, n), n)
        starts, found = starts[found >= 0], found[found >= 0]
        # the first shared n-gram of each text is the one reported (starts are in text order); were it a
        # 64-bit collision (about 1 in 10^13), that text would go unreported rather than wrongly dropped
        _, first = np.unique(text_of_word[starts], return_index=True)
        for start, bench_text in zip(starts[first], found[first]):
            hits.append((int(text_of_word[start]), int(start), n, int(bench_text)))
    # texts of 1 to n-1 words: the whole text, against benchmark texts that contain it
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    short = short[unknown_before[offsets[short + 1]] == unknown_before[offsets[short]]]
    for k in np.unique(lengths[short]):
        these = short[lengths[short] == k]
        found = index.lookup(index._hasher.windows(prefix, offsets[these], int(k)), int(k))
        for text, bench_text in zip(these[found >= 0], found[found >= 0]):
            hits.append((int(text), int(offsets[text]), int(k), int(bench_text)))

    # each row's first confirmed hit: instruction before responses, earlier words first
    hits.sort(key=lambda h: (int(text_row[h[0]]), int(text_slot[h[0]]), h[1]))
    out: list[Contamination] = []
    done: set[int] = set()
    for text, start, k, bench_text in hits:
        row = int(text_row[text])
        if row in done:
            continue
        ngram = words[start:start + k].to_pylist()
        if not index.contains(bench_text, ngram):
            continue  # a 64-bit hash collision, not a shared n-gram
        b, split, bench_row, column = index.where(bench_text)
        out.append(Contamination(first_row + row, b, split, bench_row, column,
                                 _slot_name(kind, int(text_slot[text])), " ".join(ngram)))
        done.add(row)
    return out


def _open_rows(batch: Batch) -> pq.ParquetFile:
    """The rows file, read page by page: a batch is one Parquet row group, which Arrow would otherwise
    decode whole (measured: 190 MB of Arrow memory for 200k rows, 16 MB this way)."""
    return pq.ParquetFile(batch.path / ROWS_FILE, buffer_size=1 << 20, pre_buffer=False)


def scan_batch(batch: Batch, index: BenchmarkIndex, chunk_rows: int = _ROWS_PER_CHUNK) -> Iterator[Contamination]:
    """Every contaminated row of `batch`, reading its rows file a chunk at a time."""
    columns = [COL_INSTRUCTION, COL_RESPONSE if batch.kind == "sft" else COL_GENERATIONS]
    rows_file = _open_rows(batch)
    present = [c for c in columns if c in rows_file.schema_arrow.names]
    first = 0
    for chunk in rows_file.iter_batches(batch_size=chunk_rows, columns=present):
        yield from find_contamination(index, chunk, batch.kind, first)
        first += chunk.num_rows


def decontaminate_batch(batch: Batch, benchmarks: list[Benchmark], *, n: int = DEFAULT_NGRAM, out=None) -> Batch:
    """Write the child batch of `batch` without the rows sharing an n-gram with a benchmark."""
    index = BenchmarkIndex(benchmarks, n)
    found = list(scan_batch(batch, index))
    parent_rows = batch.manifest["rows"]["kept"]
    drop = np.array([c.row for c in found], dtype=np.int64)  # in row order
    kept, dropped = _kept_rows(batch, drop), _dropped_rows(batch, drop)
    per_benchmark = np.bincount([c.benchmark for c in found], minlength=len(benchmarks))
    details = {
        "ngram": n,
        "words": "lowercased, punctuation stripped, split on whitespace",
        "compared": "instruction+responses",
        "short_texts": f"a text under {n} words is compared whole, against benchmark texts that contain it",
        "rows_checked": parent_rows,
        "removed": len(found),
        "benchmarks": [b.manifest_entry(int(d)) for b, d in zip(benchmarks, per_benchmark)],
        "dropped_file": DROPPED_FILE,
    }
    return write_child_batch(batch, kept, derived_by=SECTION, details=details,
                             out=out, tables={DROPPED_FILE: _dropped_table(dropped, found, benchmarks)})


def _kept_masks(batch: Batch, drop: np.ndarray) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    """(chunk, mask of its rows kept) through the rows file, a chunk at a time; `drop` sorted."""
    first = 0
    for chunk in _open_rows(batch).iter_batches(batch_size=_ROWS_PER_CHUNK):
        mask = np.ones(chunk.num_rows, dtype=bool)
        mask[drop[np.searchsorted(drop, first):np.searchsorted(drop, first + chunk.num_rows)] - first] = False
        yield chunk, mask
        first += chunk.num_rows


def _kept_rows(batch: Batch, drop: np.ndarray) -> RowStream:
    """The rows not in `drop`, streamed into the child batch: never the whole batch in memory."""
    rows_file = _open_rows(batch)
    return RowStream(rows_file.schema_arrow, rows_file.metadata.num_rows - len(drop),
                     lambda: (chunk.filter(pa.array(mask)) for chunk, mask in _kept_masks(batch, drop)))


def _dropped_rows(batch: Batch, drop: np.ndarray) -> pa.Table:
    """The rows in `drop` (few: the contaminated ones), whole."""
    dropped = [chunk.filter(pa.array(~mask)) for chunk, mask in _kept_masks(batch, drop) if not mask.all()]
    return pa.Table.from_batches(dropped, _open_rows(batch).schema_arrow)


def _dropped_table(table: pa.Table, found: list[Contamination], benchmarks: list[Benchmark]) -> pa.Table:
    """The dropped rows, whole (the parent's schema, also when none was dropped), plus what they share."""
    columns = {
        COL_PARENT_ROW: pa.array([c.row for c in found], type=pa.int64()),
        "benchmark": pa.array([benchmarks[c.benchmark].name for c in found], type=pa.string()),
        "benchmark_split": pa.array([c.split for c in found], type=pa.string()),
        "benchmark_row": pa.array([c.benchmark_row for c in found], type=pa.int64()),
        "benchmark_column": pa.array([c.column for c in found], type=pa.string()),
        "matched_in": pa.array([c.matched_in for c in found], type=pa.string()),
        "ngram": pa.array([c.ngram for c in found], type=pa.string()),
    }
    return with_drop_columns(table, columns)


def read_dropped(batch: Batch) -> list[dict]:
    """The rows a decontamination child batch dropped ([] for a batch that is not one)."""
    path = batch.path / DROPPED_FILE
    return pq.read_table(path).to_pylist() if batch.manifest.get("derived_by") == SECTION and path.is_file() else []


# --- the export card -----------------------------------------------------------------------

def card_lines(batch_ids) -> list[str]:
    """The export card's "Benchmark contamination" section: every decontamination behind the
    exported batches (from the manifests on this machine), one line per benchmark; [] if none."""
    from curation.batch import find_batch, lineage
    from curation.export.card import md_code, md_text

    found: dict[str, dict] = {}
    for batch_id in sorted(b for b in batch_ids if b):
        batch = find_batch(batch_id)
        for step in lineage(batch) if batch is not None else []:
            if step["derived_by"] != SECTION or not step["found"] or step["batch_id"] in found:
                continue
            child = find_batch(str(step["batch_id"]), hint_path=step["path"])
            if child is not None and isinstance(child.manifest.get(SECTION), dict):
                found[step["batch_id"]] = child.manifest[SECTION]
    lines = []
    for batch_id, d in sorted(found.items()):
        for b in d.get("benchmarks") or []:
            version = (f"sha256 {md_code(b['sha256'], in_table=True)}" if b.get("sha256") else
                       "fingerprint " + ", ".join(f"{md_code(v, in_table=True)}" if s == "None" else
                                                  f"{md_text(s)} {md_code(v, in_table=True)}"
                                                  for s, v in (b.get("fingerprint") or {}).items()))
            lines.append(f"| {md_text(batch_id)} | {md_text(b.get('name'))} | {md_code(b.get('source'), in_table=True)} "
                         f"| {version} | {md_text(d.get('ngram'))} | {md_text(d.get('rows_checked'))} "
                         f"| {md_text(b.get('rows_dropped'))} |")
    if not lines:
        return []
    return ["## Benchmark contamination checked before review", "",
            "Rows sharing a run of N words (lowercased, punctuation stripped) with a benchmark's texts were "
            "dropped (`curate decontaminate`); each batch folder's `dropped.parquet` names the benchmark row and "
            "the shared words.", "",
            "| batch | benchmark | source | version | N | rows checked | rows dropped |",
            "|---|---|---|---|---|---|---|", *lines, ""]
