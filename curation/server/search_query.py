"""Translate Elasticsearch `simple_query_string` text queries into SQLite FTS5 match expressions.

argilla-server sends every text query to Elasticsearch as a `simple_query_string` with
`default_operator: AND` (see `argilla_server.search_engine.commons.es_simple_query_string`).
This module reproduces that syntax on top of FTS5:

* whitespace between clauses means AND, `+` means AND, `|` means OR;
* a leading `-` negates the next clause; `( ... )` groups;
* `"..."` is a phrase, `"..."~N` a phrase with slop N (mapped to FTS5 `NEAR`);
* a trailing `*` makes a prefix query; `term~N` (fuzzy) is matched exactly, FTS5 has no fuzzy match;
* `\\` escapes the next character.

Like Lucene's SimpleQueryParser, operators are applied left to right without precedence,
a clause that analyses to no tokens is dropped, and a negated clause matches every document
that does not match it (Lucene adds a `match_all` next to the `must_not`).

A query is bounded before it reaches SQLite (`SearchRejected`, which argilla-server answers
with HTTP 422 and the message): its length, its number of terms (FTS5's cost grows with
them, faster than linearly) and its nesting (groups and left-to-right operator changes nest
the FTS5 expression; FTS5's parser overflows its stack past about 30 of our levels and
Python's recursion limit sits at 1,000).
"""

from __future__ import annotations

import dataclasses
import re
from typing import List, Optional, Tuple, Union

from curation.upstream.argilla_server import UnprocessableEntityError

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_QUERY_DEPTH",
    "MAX_QUERY_TERMS",
    "FtsQuery",
    "SearchRejected",
    "parse_simple_query",
    "to_fts_query",
]

MAX_QUERY_CHARS = 10_000
# Lucene's default maxClauseCount: Elasticsearch refuses more clauses than this too.
MAX_QUERY_TERMS = 1_024
# Each level adds up to 3 parentheses to the FTS5 expression; 20 levels stay well below its stack.
MAX_QUERY_DEPTH = 20
# FTS5 reads a NEAR distance as a C int: a larger one wraps around and silently matches less.
_MAX_SLOP = 2**31 - 1

# FTS5's unicode61 tokenizer keeps letters and numbers and splits on everything else (underscore included).
_TOKEN_RE = re.compile(r"[^\W_]+", re.UNICODE)
_TERM_STOP = set(' \t\r\n\f\v"|+()~')
_AND, _OR = "AND", "OR"


@dataclasses.dataclass
class Term:
    text: str
    prefix: bool = False


@dataclasses.dataclass
class Phrase:
    text: str
    slop: int = 0


@dataclasses.dataclass
class Not:
    node: "Node"


@dataclasses.dataclass
class Bool:
    op: str
    nodes: List["Node"]
    depth: int = 1  # Bool levels from here down to a leaf, kept as the tree is built


class SearchRejected(UnprocessableEntityError):
    """A search the client must change; argilla-server answers it with HTTP 422 and this message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.args = (message,)  # the argilla base class leaves args empty: keep str(error) readable


Node = Union[Term, Phrase, Not, Bool]


def _height(node: Node) -> int:
    if isinstance(node, Not):
        node = node.node
    return node.depth if isinstance(node, Bool) else 0


def _too_deep() -> SearchRejected:
    return SearchRejected(
        f"The search query nests groups or alternates operators more than {MAX_QUERY_DEPTH} levels deep."
    )


@dataclasses.dataclass(frozen=True)
class FtsQuery:
    """An FTS5 MATCH expression; `negated` means the query matches the documents it does NOT match."""

    expression: str
    negated: bool = False


class _Parser:
    def __init__(self, text: str):
        if len(text) > MAX_QUERY_CHARS:
            raise SearchRejected(
                f"The search query has {len(text):,} characters; the limit is {MAX_QUERY_CHARS:,}."
            )
        self.text = text
        self.pos = 0
        self.groups = 0  # open `(` around the current position
        self.terms = 0  # tokens read so far, across every clause

    def parse(self) -> Optional[Node]:
        return self._sequence(inside_group=False)

    def _sequence(self, inside_group: bool) -> Optional[Node]:
        top: Optional[Node] = None
        previous_op: Optional[str] = None
        current_op: Optional[str] = None
        negations = 0

        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char.isspace():
                self.pos += 1
                continue
            if char == ")":
                self.pos += 1
                if inside_group:
                    break
                continue
            if char in "|+":
                current_op = _OR if char == "|" else _AND
                self.pos += 1
                continue
            if char == "-":
                negations += 1
                self.pos += 1
                continue
            if char == "(":
                self.pos += 1
                self.groups += 1
                if self.groups > MAX_QUERY_DEPTH:
                    raise _too_deep()
                branch = self._sequence(inside_group=True)
                self.groups -= 1
            elif char == '"':
                branch = self._phrase()
            elif char == "~":
                # A stray fuzziness marker with no term before it: skip it and its digits.
                self.pos += 1
                self._number()
                continue
            else:
                branch = self._term()

            if branch is not None and negations % 2 == 1:
                branch = Not(branch)
            negations = 0
            if branch is None:
                current_op = None
                continue

            op = current_op or _AND
            if top is None:
                top = branch
            elif previous_op == op and isinstance(top, Bool) and top.op == op:
                top.nodes.append(branch)
                top.depth = max(top.depth, _height(branch) + 1)
            else:
                top = Bool(op, [top, branch], max(_height(top), _height(branch)) + 1)
            if _height(top) > MAX_QUERY_DEPTH:
                raise _too_deep()
            previous_op, current_op = op, None

        return top

    def _number(self) -> Optional[int]:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isdigit():
            self.pos += 1
        digits = self.text[start : self.pos]
        if not digits:
            return None
        # Python refuses int() of over 4,300 digits; any slop that long is "unbounded" anyway.
        return _MAX_SLOP if len(digits) > 10 else min(int(digits), _MAX_SLOP)

    def _count_terms(self, text: str) -> None:
        self.terms += len(_TOKEN_RE.findall(text))
        if self.terms > MAX_QUERY_TERMS:
            raise SearchRejected(f"The search query has more than {MAX_QUERY_TERMS:,} terms.")

    def _phrase(self) -> Phrase:
        self.pos += 1  # opening quote
        chars = []
        while self.pos < len(self.text) and self.text[self.pos] != '"':
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.text[self.pos])
            self.pos += 1
        self.pos += 1  # closing quote (or end of input)
        slop = 0
        if self.pos < len(self.text) and self.text[self.pos] == "~":
            self.pos += 1
            slop = self._number() or 0
        text = "".join(chars)
        self._count_terms(text)
        return Phrase(text, slop)

    def _term(self) -> Term:
        chars = []
        while self.pos < len(self.text) and self.text[self.pos] not in _TERM_STOP:
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.text[self.pos])
            self.pos += 1
        if self.pos < len(self.text) and self.text[self.pos] == "~":
            # Fuzzy match (`term~N`) has no FTS5 counterpart: the term is matched exactly.
            self.pos += 1
            self._number()
        text = "".join(chars)
        self._count_terms(text)
        prefix = text.endswith("*") and not text.endswith("\\*")
        return Term(text.rstrip("*") if prefix else text, prefix)


def parse_simple_query(text: str) -> Optional[Node]:
    """Parse a simple_query_string into a tree; None when it has no clauses.

    Raises SearchRejected when the query is longer, has more terms or nests deeper than allowed.
    """
    return _Parser(text).parse()


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _leaf(node: Union[Term, Phrase], column: Optional[str]) -> Optional[str]:
    tokens = _TOKEN_RE.findall(node.text)
    if not tokens:
        return None
    if isinstance(node, Phrase):
        if node.slop and len(tokens) > 1:
            expression = "NEAR(" + " ".join(_quote(t) for t in tokens) + f", {node.slop})"
        else:
            expression = _quote(" ".join(tokens))
    else:
        # Several tokens in one term (e.g. "e-mail") are ANDed, as Lucene does with its default operator.
        quoted = [_quote(t) for t in tokens]
        if node.prefix:
            quoted[-1] += " *"
        expression = " AND ".join(quoted)
    return f"{column} : ({expression})" if column else f"({expression})"


def _translate(node: Node, column: Optional[str]) -> Optional[Tuple[bool, str]]:
    """Return (negated, expression) for a node, None when it analyses to nothing."""
    if isinstance(node, (Term, Phrase)):
        expression = _leaf(node, column)
        return None if expression is None else (False, expression)
    if isinstance(node, Not):
        inner = _translate(node.node, column)
        return None if inner is None else (not inner[0], inner[1])

    parts = [part for part in (_translate(child, column) for child in node.nodes) if part is not None]
    if not parts:
        return None
    # A clause repeated in one AND/OR changes nothing it matches but costs FTS5 its work again
    # for every row ("hello hello ..."): keep its first occurrence only.
    positives = list(dict.fromkeys(expression for negated, expression in parts if not negated))
    negatives = list(dict.fromkeys(expression for negated, expression in parts if negated))

    # De Morgan: an AND keeps its positives minus the union of its negatives; an OR is the
    # complement of (its negatives' intersection minus the union of its positives).
    main, other, negated = (positives, negatives, False) if node.op == _AND else (negatives, positives, True)
    if not main:
        return not negated, "(" + " OR ".join(other) + ")"
    expression = "(" + " AND ".join(main) + ")"
    if other:
        expression = f"({expression} NOT ({' OR '.join(other)}))"
    return negated, expression


def to_fts_query(text: str, column: Optional[str] = None) -> Optional[FtsQuery]:
    """Translate a simple_query_string, optionally restricted to one FTS5 column; None matches nothing."""
    node = parse_simple_query(text)
    if node is None:
        return None
    translated = _translate(node, column)
    if translated is None:
        return None
    negated, expression = translated
    return FtsQuery(expression=expression, negated=negated)
