"""The names in curation/contract.py are spelled only there.

A batch column, record field, question or metadata name written as a string literal in a second
place can drift from the one its reader uses, and the record or column is then silently empty.
This test parses every module under curation/ and pipelines/ (the server package aside: it never
touches these names) and fails on any string constant equal to a contract name, except the uses
listed in ALLOWED, each with the reason the literal is not that name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from curation import contract

ROOT = Path(__file__).resolve().parents[1]

# The contract's names: every module-level string constant of curation/contract.py, less the
# setting types (a question named `ranking` has the type `ranking`: that literal is the type).
_TYPES = {t for sections in contract.CONTRACT.values() for names in sections.values() for t in names.values()}
NAMES = {v for k, v in vars(contract).items() if k.isupper() and isinstance(v, str)} - _TYPES

_MANIFEST = "a batch manifest's key (its own id, recipe, model), not a record's metadata or a column"
_LINEAGE = "a lineage step's key (curation.batch.lineage), not a record's metadata or a column"
_REPORT = "a key of the report's own figures (figures.json), not a record's metadata"
_EMBED = "a key of the embedder's details (the manifest's `embed`), not a column"
_DISTILABEL = "a distilabel task's own input/output name (a mapping key), fixed by distilabel"
_WATCHER = "a key of the watcher's own file (watcher.json) and its status, not a record's metadata or a column"
_JUDGE_JSON = "a key of the judge's JSON answer schema (UltraFeedback's), not a batch column"

# (module path, innermost enclosing function or class, "*" for the whole module) -> (the literals
# allowed there, why they are not the contract's names). Keep them narrow: a whole module hides a
# real use beside the allowed one, so "*" is only for modules that never touch rows or records.
ALLOWED = {
    ("curation/watch/loop.py", "start"): ({"recipe"}, _WATCHER),
    ("curation/watch/loop.py", "close"): ({"recipe"}, _WATCHER),
    ("curation/watch/state.py", "watch_status"): ({"recipe"}, _WATCHER),
    ("curation/cli/review.py", "watcher_line"): ({"recipe"}, _WATCHER),
    ("curation/batch.py", "*"): ({"batch_id", "recipe", "model"}, _MANIFEST),
    ("curation/generate.py", "generate_batch"): ({"batch_id", "recipe", "model"}, _MANIFEST),
    ("curation/cli/generate.py", "*"): ({"batch_id", "recipe", "model"},
                                        _MANIFEST + "; click argument names; `curate list` column titles"),
    ("curation/cli/review.py", "run"): ({"recipe"}, "the RECIPE argument `run` takes from `generate`'s options"),
    ("curation/cli/dedup.py", "dedup"): ({"batch_id"}, "click's name for the BATCH argument"),
    ("curation/cli/decontaminate.py", "decontaminate"): ({"batch_id"}, "click's name for the BATCH argument"),
    ("curation/backends.py", "describe"): ({"model"}, "a key of a backend's description in the manifest"),
    ("curation/cli/embed.py", "embed"): ({"model"}, _EMBED),
    ("curation/embeddings.py", "embed_rows"): ({"model"}, _EMBED),
    ("curation/deita_select.py", "select_rows"): ({"model"}, _EMBED),
    ("curation/deita_select.py", "card_lines"): ({"batch_id"}, _LINEAGE),
    ("curation/decontaminate.py", "card_lines"): ({"batch_id"}, _LINEAGE),
    ("curation/export/card.py", "dedup_counts"): ({"batch_id"}, _LINEAGE),
    ("curation/report/batches.py", "_empty"): ({"batch_id", "recipe"}, _REPORT),
    ("curation/report/batches.py", "_entry"): ({"recipe"}, _REPORT),
    ("curation/report/html.py", "_batches"): ({"batch_id", "recipe"}, _REPORT),
    ("curation/report/rounds.py", "links_behind"): ({"batch_id"}, _LINEAGE),
    ("curation/cost.py", "costs_behind"): ({"batch_id"}, _LINEAGE),
    ("curation/cost.py", "entry"): ({"model"}, "a key of the manifest's `cost` (the model each step called)"),
    ("curation/cost.py", "step_models"): ({"model"}, "a distilabel LLM's field (OpenAI-style clients' model name)"),
    ("curation/cost.py", "card_lines"): ({"recipe"}, "the manifest's recipe"),
    ("curation/report/__init__.py", "review_report"): ({"batch_id"}, _REPORT),
    ("curation/report/cost.py", "cost_figures"): ({"model"}, _REPORT + ": the generation's cost, beside the human's"),
    ("curation/report/cost.py", "cost_line"): ({"model"}, _REPORT + ": the generation's cost, beside the human's"),
    ("curation/report/html.py", "_cost"): ({"model"}, _REPORT + ": the generation's cost, beside the human's"),
    ("curation/report/rounds.py", "example_ids"): ({"record_id"}, "a key of a manifest's example entry, not a column"),
    ("curation/report/html.py", "render_html"): ({"ratings"}, _REPORT),
    ("curation/report/html.py", "_judge"): ({"ratings"}, _REPORT),
    ("curation/report/figures.py", "figures"): ({"ratings"}, _REPORT),
    ("curation/report/feedback.py", "result"): ({"ratings"}, _REPORT),
    ("curation/argilla/errors.py", "status_of"): ({"response"}, "the HTTP error's attribute"),
    ("curation/argilla/errors.py", "detail_of"): ({"response"}, "the HTTP error's attribute"),
    ("curation/cli/users.py", "remove"): ({"response"}, "a word in a message"),
    ("curation/server_llm.py", "agenerate"): ({"generations"}, "a key of distilabel's LLM output"),
    ("curation/server_llm.py", "_merge"): ({"generations"}, "a key of distilabel's LLM output"),
    ("pipelines/evol_instruct.py", "build"): ({"instruction"}, _DISTILABEL),
    ("pipelines/preference_common.py", "generate_candidates"): ({"model_name"}, _DISTILABEL),
    ("pipelines/sft_common.py", "respond"): ({"model_name"}, _DISTILABEL),
    ("pipelines/ultrafeedback.py", "build"): ({"model_name"}, _DISTILABEL),
    ("pipelines/ultrafeedback.py", "_judge_schema"): ({"ratings", "rationales"}, _JUDGE_JSON),
    ("pipelines/steps.py", "ultrafeedback_schema"): ({"ratings", "rationales"}, _JUDGE_JSON),
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _literals(tree: ast.AST):
    """(innermost enclosing function or class name, literal, line) for every non-docstring string constant."""
    docstrings = _docstrings(tree)

    def visit(node: ast.AST, scope: str):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else scope
            if isinstance(child, ast.Constant) and isinstance(child.value, str) and id(child) not in docstrings:
                yield scope, child.value, child.lineno
            yield from visit(child, inner)

    yield from visit(tree, "")


def _modules() -> list[Path]:
    files = sorted((ROOT / "curation").rglob("*.py")) + sorted((ROOT / "pipelines").rglob("*.py"))
    return [f for f in files if f.name != "contract.py" and "server" not in f.relative_to(ROOT).parts[:2]]


def spelled_again() -> tuple[list[str], set[tuple]]:
    """(`path:line (scope): 'name'` for each contract name written as a literal outside contract.py,
    the ALLOWED entries that matched)."""
    found, used = [], set()
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        for scope, value, line in _literals(ast.parse(path.read_text(), filename=rel)):
            if value not in NAMES:
                continue
            allowed = next((key for key in ((rel, scope), (rel, "*")) if value in ALLOWED.get(key, ((),))[0]), None)
            if allowed is not None:
                used.add((*allowed, value))
                continue
            found.append(f"{rel}:{line} ({scope or 'module'}): {value!r}")
    return found, used


def test_contract_names_are_spelled_only_in_contract():
    found, _ = spelled_again()
    assert not found, "use the constants of curation/contract.py:\n" + "\n".join(found)


def test_every_allowance_is_still_needed():
    _, used = spelled_again()
    listed = {(*key, value) for key, (values, _) in ALLOWED.items() for value in values}
    assert listed - used == set(), "remove the allowances nothing needs"


def test_the_check_sees_a_literal():
    """The scanner finds a name in the positions a reader uses (subscript, .get, dict key)."""
    tree = ast.parse(f'def f(row):\n    return row["{contract.COL_INSTRUCTION}"], {{"{contract.META_BATCH_ID}": 1}}\n')
    assert [(s, v) for s, v, _ in _literals(tree)] == [("f", "instruction"), ("f", "batch_id")]


def test_names_are_distinct_where_they_must_be():
    """Argilla wants field, question and metadata names unique within a dataset."""
    for kind, sections in contract.CONTRACT.items():
        names = [name for section in sections.values() for name in section]
        assert len(names) == len(set(names)), kind


def test_shipped_settings_declare_the_metadata_push_fills():
    """Each shipped settings file offers every filter push fills for its kind, typed as push fills it."""
    configs = ROOT / "curation" / "argilla_configs"
    for kind, sections in contract.CONTRACT.items():
        declared = yaml.safe_load((configs / f"{kind}.yaml").read_text())["metadata"]
        assert {m["name"]: m["type"] for m in declared} == sections["metadata"], kind
