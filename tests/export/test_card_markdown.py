"""The export card keeps its Markdown structure whatever the names it prints hold.

Dataset names, `recipe`/`model`/`batch_id` record metadata and seed file paths reach the
card from the server and the manifests; a newline or a pipe in one of them must not add a
heading, a table row or a cell. The card is parsed with markdown-it (CommonMark + GFM
tables, as the Hub renders it) and its structure compared with what `render` means to write.
"""

from __future__ import annotations

import ast
import re
import uuid

from markdown_it import MarkdownIt

from curation.batch import write_batch
from curation.export import card
from curation.export.formats import get_format
from curation.export.select import Counts
from curation.export.write import Written

HOSTILE = "evil\n# Injected heading\n| x | y | z |\n\n- item <b>bold</b> `tick` [link](http://e.x) *em* _u_ \\ & |"
FLAT = " ".join(HOSTILE.split())  # what a reader should see: the same text on one line
H2 = ["Load it", "Counts", "Selection policy", "Agreement", "Provenance", "Chain of recipes"]


def _render(tmp_path, curation_home):
    # A batch on this machine whose manifest names a hostile seed file, and one only the records name.
    batch_id = f"prompt-local-{uuid.uuid4().hex[:6]}"  # the data folder is the session's
    local = write_batch(curation_home / "batches" / batch_id, [{"instruction": "q", "response": "a"}],
                        {"batch_id": batch_id, "recipe": "prompt", "kind": "sft", "rows": {"kept": 1},
                         "seed_file": HOSTILE + ".txt", "seed_sha256": "0" * 64})
    tally = card.Tally()
    for batch_id in (local.id, HOSTILE):
        tally.add({"recipe": HOSTILE, "model": HOSTILE, "batch_id": batch_id, "agreement": 1.0})
    return card.render(source=HOSTILE, fmt=get_format("sft"), written=Written(num_examples=2, sha256="0" * 64),
                       counts=Counts(seen=3, discarded=1, exported=2), policy=card.Policy("majority", 1),
                       tally=tally, load_from=HOSTILE)


def _headings(tokens) -> list[tuple[str, str]]:
    return [(t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"]


def _text(inline) -> str:
    """What a reader sees of an inline token: its text and code spans, escapes resolved."""
    return "".join(c.content for c in inline.children if c.type in ("text", "code_inline", "softbreak"))


def test_hostile_names_add_no_heading_row_cell_or_html(tmp_path, curation_home):
    text = _render(tmp_path, curation_home)
    body = text.split("\n---\n", 1)[1]  # after the YAML front matter
    tokens = MarkdownIt("commonmark").enable("table").parse(body)

    headings = _headings(tokens)
    assert [h for h in headings if h[0] == "h1"] == [("h1", card.md_text(HOSTILE) + " (sft)")]
    assert [content for tag, content in headings if tag == "h2"] == H2
    assert not [t for t in tokens if t.type in ("html_block", "hr", "ordered_list_open")]
    assert sum(t.type == "list_item_open" for t in tokens) == 6  # the policy's 4 points and agreement's 2
    inline_kinds = {c.type for t in tokens if t.type == "inline" for c in t.children or []}
    assert not inline_kinds & {"html_inline", "link_open", "em_open", "image"}, inline_kinds  # (bold is the card's own)

    # Every row of every table has as many cells as its header row.
    for table in re.findall(r"(?:^\|.*\n?)+", body, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table.strip().splitlines()}
        assert len(widths) == 1, table

    # ...and the names read back as given, on one line.
    first_h1 = next(i for i, t in enumerate(tokens) if t.type == "heading_open")
    assert _text(tokens[first_h1 + 1]) == f"{FLAT} (sft)"
    cells = [_text(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "td_open"]
    assert cells.count(FLAT) == 3  # recipe, model, and the batch id of the chain table
    assert f"seed file {FLAT}.txt → prompt" in cells
    paragraph = next(_text(tokens[i + 1]) for i, t in enumerate(tokens)
                     if t.type == "paragraph_open" and tokens[i + 1].content.startswith("Human-validated"))
    assert f"Argilla dataset {FLAT}, exported" in paragraph


def test_the_load_line_is_one_python_string(tmp_path, curation_home):
    text = _render(tmp_path, curation_home)
    code = text.split("```python\n", 1)[1].split("\n```", 1)[0]
    statements = ast.parse(code).body  # a newline in the name would break the code block or the call
    assert [type(s).__name__ for s in statements] == ["ImportFrom", "Assign"]
    call = statements[1].value
    assert call.func.id == "load_dataset" and ast.literal_eval(call.args[0]) == HOSTILE
