"""A batch's cost: tokens per step and model against llama.cpp's own tokenizer, prices, the card's table.

One real `responses` batch on the bundled model (2 instructions × 2 answers of at most 8 tokens)
serves every test of this module.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from curation.batch import load_batch
from curation.cli import main
from curation.cost import card_lines
from curation.export import card

QUESTIONS = ["What is rain?", "Name a primary color."]


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def priced(tmp_path_factory):
    """A price table the test sets (none is shipped): the bundled model at $1 in, $2 out per 1M tokens."""
    path = tmp_path_factory.mktemp("prices") / "prices.yaml"
    path.write_text("SmolLM2-135M-Instruct-Q4_1: {input: 1.0, output: 2.0}\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def batch(generation_home, priced, tmp_path_factory):
    seeds = tmp_path_factory.mktemp("seeds") / "questions.txt"
    seeds.write_text("\n".join(QUESTIONS) + "\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CURATION_HOME", str(generation_home))
        mp.setenv("CURATION_PRICES", str(priced))
        result = invoke("generate", "responses", "--seeds", str(seeds), "-n", "2", "--max-new-tokens", "8",
                        "--temperature", "0", "--fresh", "-q")
        assert result.exit_code == 0, result.output
        path = result.output.strip().rsplit("→ ", 1)[-1]
        yield load_batch(path)


def _llama_counts(model, rows):
    """Prompt and completion tokens of the batch's calls, counted here with llama.cpp's tokenizer:
    each instruction rendered with the GGUF's own chat template (as llama.cpp does for a chat call),
    each answer as the batch holds it."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llama = Llama(model_path=str(model), vocab_only=True, verbose=False)
    text = lambda token: llama.detokenize([token], special=True).decode("utf-8")  # noqa: E731
    formatter = Jinja2ChatFormatter(template=llama.metadata["tokenizer.chat_template"],
                                    eos_token=text(llama.token_eos()), bos_token=text(llama.token_bos()))
    prompt_tokens = output_tokens = 0
    for row in rows:
        prompt = formatter(messages=[{"role": "user", "content": row["instruction"]}]).prompt
        # The first answer as the model wrote it (the batch's raw output), the second as kept (stripped).
        answers = [json.loads(row["raw_output"])["raw_output_respond_0"], *row["generations"][1:]]
        prompt_tokens += len(answers) * len(llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))
        output_tokens += sum(len(llama.tokenize(a.encode("utf-8"), add_bos=False, special=False)) for a in answers)
    return prompt_tokens, output_tokens


def test_token_counts_equal_llama_cpps_own_count(batch, bundled_model):
    """Every generated row was kept, so the batch holds the text of every call."""
    cost = batch.manifest["cost"]
    rows = batch.rows()
    assert batch.manifest["rows"]["generated"] == batch.manifest["rows"]["kept"] == 2
    step = cost["steps"]["respond_0"]
    assert (step["input_tokens"], step["output_tokens"]) == _llama_counts(bundled_model, rows)
    assert step["calls"] == 4 and step["rows"] == 2 and step["counted"] == "backend usage"
    assert step["model"] == "SmolLM2-135M-Instruct-Q4_1" and step["wall_seconds"] > 0
    assert cost["total"]["input_tokens"] == step["input_tokens"]
    assert "stopped" not in batch.manifest


def test_a_priced_model_gets_dollars(batch):
    model = batch.manifest["cost"]["models"]["SmolLM2-135M-Instruct-Q4_1"]
    expected = round((model["input_tokens"] * 1.0 + model["output_tokens"] * 2.0) / 1e6, 6)
    assert model["usd"] == expected and batch.manifest["cost"]["total"]["usd"] == expected


def test_budget_usd_without_a_price_is_one_line_before_any_model_loads(curation_home, monkeypatch, tmp_path):
    monkeypatch.setenv("CURATION_PRICES", str(tmp_path / "none.yaml"))
    seeds = tmp_path / "questions.txt"
    seeds.write_text("What is rain?\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["generate", "responses", "--seeds", str(seeds), "--budget-usd", "0.01"])
    assert result.exit_code == 2
    assert "--budget-usd needs a price for 'SmolLM2-135M-Instruct-Q4_1'" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


def test_a_malformed_price_table_is_bad_input(curation_home, monkeypatch, tmp_path):
    table = tmp_path / "prices.yaml"
    table.write_text("SmolLM2-135M-Instruct-Q4_1: {input: 1.0}\n", encoding="utf-8")
    monkeypatch.setenv("CURATION_PRICES", str(table))
    seeds = tmp_path / "questions.txt"
    seeds.write_text("What is rain?\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["generate", "responses", "--seeds", str(seeds), "--budget-usd", "0.01"])
    assert result.exit_code == 2 and "needs `input` and `output` USD per 1M tokens" in result.output


def test_the_card_has_a_cost_line_per_batch_behind_the_export(batch, curation_home):
    from curation.batch import write_child_batch

    child = write_child_batch(batch, batch.rows()[:1], derived_by="selection", details={"kept": 1})
    tally = card.Tally()
    tally.batches.update({child.id: 1})
    lines = card_lines(tally.batches)
    total = batch.manifest["cost"]["total"]
    assert lines[0] == "## Cost"
    assert [line for line in lines if line.startswith("| ") and "---" not in line][1:] == [
        f"| {batch.id} | responses | SmolLM2-135M-Instruct-Q4\\_1 | {total['input_tokens']:,} "
        f"| {total['output_tokens']:,} | {total['usd']:.6f} | 2 |"]  # named once, through the child
    tokens = total["input_tokens"] + total["output_tokens"]
    assert (f"In all {tokens:,} tokens for 1 exported rows: {tokens:,.1f} tokens, USD {total['usd']:.6f} "
            "per exported row") in lines[-2]
    assert card._cost_section(card.Tally()) == []


def test_the_card_finds_a_batch_written_with_out_under_another_name(batch, curation_home):
    """An exported batch written with --out under the batches folder (its folder is not its id) is
    found as `curate report` finds it, so the generation behind it still gets its cost line."""
    from curation import settings
    from curation.batch import write_child_batch

    child = write_child_batch(batch, batch.rows()[:1], derived_by="selection", details={"kept": 1},
                              out=settings.batches_dir() / f"picked-{batch.id}")
    assert child.path.name != child.id
    lines = card_lines({child.id: 1})
    assert any(line.startswith(f"| {batch.id} | responses |") for line in lines), lines
