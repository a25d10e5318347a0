"""`curate report` on datasets whose figures are known by construction (tests/report/known_reviews.py),
on the real embedded server: the JSON, the HTML's numbers, and the page as Chromium draws it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import struct
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.cli import main
from tests.report.known_reviews import APPEND_10, APPEND_30, SUGGESTED, build_preference, build_sft, unique
from tests.review.alpha import expected_alpha

pytestmark = pytest.mark.slow


def invoke(args: list[str], **env: str):
    return CliRunner().invoke(main, args, env=env or None, catch_exceptions=False)


class Figures(HTMLParser):
    """data-figure -> the text of that element; and the id of every <svg>."""

    def __init__(self, html: str):
        super().__init__()
        self.figures: dict[str, str] = {}
        self.svg_ids: list[str] = []
        self._open: list[str | None] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg":
            self.svg_ids.append(attrs.get("id"))
        self._open.append(attrs.get("data-figure"))
        if attrs.get("data-figure") is not None:
            self.figures[attrs["data-figure"]] = ""

    def handle_endtag(self, tag):
        self._open.pop()

    def handle_data(self, data):
        if self._open and self._open[-1] is not None:
            self.figures[self._open[-1]] += data


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """CURATION_HOME of the tests: batches A, S and T are in its batches folder, B is not."""
    return tmp_path_factory.mktemp("report-home")


@pytest.fixture(scope="module")
def preference(argilla_client, review_workspace, home, tmp_path_factory):
    start = dt.datetime.now(dt.timezone.utc)
    built = build_preference(argilla_client, review_workspace, home, tmp_path_factory.mktemp("elsewhere"))
    return {**built, "days": {start.date().isoformat(), dt.datetime.now(dt.timezone.utc).date().isoformat()}}


@pytest.fixture(scope="module")
def sft(argilla_client, review_workspace, home):
    return build_sft(argilla_client, review_workspace, home)


def report_of(name: str, tmp_path: Path, home: Path) -> tuple[dict, str]:
    """(the JSON on stdout, the HTML written) of one `curate report --json --out` run."""
    out = tmp_path / "report.html"
    result = invoke(["report", name, "--json", "--out", str(out)], CURATION_HOME=str(home))
    assert result.exit_code == 0, result.stderr
    assert f"Wrote the review report of {name!r} to {out}" in result.stderr
    return json.loads(result.stdout), out.read_text(encoding="utf-8")


def test_preference_figures_in_json_and_html(preference, home, tmp_path):
    figures, html = report_of(preference["name"], tmp_path, home)
    alice, bob = preference["users"]["alice"], preference["users"]["bob"]
    shown = Figures(html).figures

    assert figures["kind"] == "preference"
    assert figures["records"] == {"total": 7, "submitted": 5, "discarded_only": 1, "not_reviewed": 1}
    # 8 submitted + 3 discarded responses; alice's draft on B1 is not a review.
    progress = figures["progress"]
    assert progress["reviews"] == 11 and shown["progress.reviews"] == "11"
    [day] = progress["by_day"]
    assert day["day"] in preference["days"] and (day["submitted"], day["discarded"]) == (8, 3)
    assert [n for _, n in progress["curve"]] == list(range(1, 12))
    assert shown[f"progress.by_day.{day['day']}.submitted"] == "8"

    people = figures["annotators"]
    assert {u: (p["submitted"], p["discarded"], p["draft"], p["discard_share"]) for u, p in people.items()} == {
        alice: (4, 1, 1, 0.2), bob: (4, 2, 0, pytest.approx(0.3333, abs=1e-4)),
    }
    assert shown[f"annotators.{alice}.discard_share"] == "20.0%" and shown[f"annotators.{bob}.discard_share"] == "33.3%"
    assert shown[f"annotators.{bob}.discarded"] == "2"

    # Alpha over the records both annotators submitted (A0, A1, B0), from first principles.
    agreement = figures["agreement"]
    expected = {
        "rating_1": expected_alpha([[5, 4], [2, 1], [2, 2]], "ordinal"),
        "rating_2": expected_alpha([[2, 2], [4, 4], [5, 4]], "ordinal"),
        "ranking": expected_alpha([["response_1", "response_1"], ["response_1", "response_2"],
                                   ["response_2", "response_2"]], "nominal"),
    }
    for question, alpha in expected.items():
        assert agreement[question]["alpha"] == pytest.approx(alpha, abs=1e-4), question
        assert agreement[question]["records"] == 3
        assert shown[f"agreement.{question}.alpha"] == f"{alpha:.3f}"
    assert agreement["ranking"]["of"] == "top choice"

    assert figures["ratings"]["rating_1"] == {"scale": [1, 2, 3, 4, 5], "human": [1, 3, 1, 2, 1], "judge": [2, 1, 1, 1, 2]}
    assert figures["ratings"]["rating_2"] == {"scale": [1, 2, 3, 4, 5], "human": [1, 2, 1, 3, 1], "judge": [1, 2, 2, 1, 1]}
    assert shown["ratings.rating_1.human.2"] == "3" and shown["ratings.rating_2.judge.3"] == "2"

    # The judge chose as the human majority on A0, B0, B1, not on A2 (it tied, alice chose 2);
    # A1 is left out (alice chose 1, bob 2), A3 and B2 have no submitted ranking.
    ai = figures["ai_feedback"]
    assert ai["chosen"] == {"records": 4, "agreed": 3, "share": 0.75, "humans_split": 1}
    assert shown["ai_feedback.chosen.share"] == "75.0%" and shown["ai_feedback.chosen.records"] == "4"
    ratings = ai["ratings"]
    assert ratings["confusion"] == [  # rows: judge 1..5, columns: human 1..5
        [2, 1, 0, 0, 0],
        [0, 4, 0, 0, 0],
        [0, 0, 2, 0, 0],
        [0, 0, 0, 2, 0],
        [0, 0, 0, 3, 2],
    ]
    assert (ratings["pairs"], ratings["exact"], ratings["share_exact"]) == (16, 12, 0.75)
    assert (ratings["mean_abs_difference"], ratings["mean_human_minus_judge"]) == (0.25, -0.125)
    assert shown["ai_feedback.ratings.confusion.5.4"] == "3" and shown["ai_feedback.ratings.confusion.1.2"] == "1"
    assert shown["ai_feedback.ratings.share_exact"] == "75.0%"
    assert ai["by"]["recipe"] == {
        "evol-quality": {"records": 2, "agreed": 2, "share": 1.0, "humans_split": 0, "rating_pairs": 6,
                         "rating_share_exact": pytest.approx(0.6667, abs=1e-4)},
        "ultrafeedback": {"records": 2, "agreed": 1, "share": 0.5, "humans_split": 1, "rating_pairs": 10,
                          "rating_share_exact": 0.8},
    }
    assert ai["by"]["judge_model"] == {
        "judge-large": {"records": 3, "agreed": 2, "share": pytest.approx(0.6667, abs=1e-4), "humans_split": 0,
                        "rating_pairs": 8, "rating_share_exact": 0.75},
        "judge-small": {"records": 1, "agreed": 1, "share": 1.0, "humans_split": 1, "rating_pairs": 8,
                        "rating_share_exact": 0.75},
    }
    assert shown["ai_feedback.by.judge_model.judge-large.share"] == "66.7%"
    assert shown["ai_feedback.by.recipe.ultrafeedback.rating_share_exact"] == "80.0%"

    a, b = preference["a"], preference["b"]
    assert [entry["batch_id"] for entry in figures["batches"]] == sorted([a, b])
    batches = {entry["batch_id"]: entry for entry in figures["batches"]}
    assert batches[a] == {
        "batch_id": a, "records": 4, "recipe": "ultrafeedback", "on_this_machine": True, "kind": "preference",
        "kept": 4, "dropped": 1, "dedup": {"near_duplicates": 2, "threshold": 0.85},
        "selection": {"kept": 4, "below_threshold": 1}, "note": str(home / "batches" / a),
    }
    assert batches[b] == {
        "batch_id": b, "records": 3, "recipe": "evol-quality", "on_this_machine": False, "kind": None, "kept": None,
        "dropped": None, "dedup": None, "selection": None, "note": "not on this machine",
    }
    assert (shown[f"batches.{a}.kept"], shown[f"batches.{a}.dropped"]) == ("4", "1")
    assert shown[f"batches.{a}.dedup"] == "near_duplicates: 2, threshold: 0.85"
    assert shown[f"batches.{b}.note"] == "not on this machine"


def test_sft_edits_by_recipe_and_model(sft, home, tmp_path):
    assert {len(text) for text in SUGGESTED.values()} == {30} and (len(APPEND_10), len(APPEND_30)) == (10, 30)
    figures, html = report_of(sft["name"], tmp_path, home)
    shown = Figures(html).figures
    alice, bob = sft["users"]["alice"], sft["users"]["bob"]

    assert figures["kind"] == "sft"
    assert figures["records"] == {"total": 5, "submitted": 4, "discarded_only": 1, "not_reviewed": 0}
    assert figures["progress"]["reviews"] == 8
    assert {u: (p["submitted"], p["discarded"], p["draft"], p["discard_share"]) for u, p in figures["annotators"].items()} == {
        alice: (4, 1, 0, 0.2), bob: (3, 0, 1, 0.0),
    }
    assert figures["ratings"] == {
        "instruction_rating": {"scale": [1, 2, 3, 4, 5], "human": [0, 2, 1, 2, 2], "judge": None},
        "response_rating": {"scale": [1, 2, 3, 4, 5], "human": [0, 1, 2, 2, 2], "judge": None},
    }
    agreement = figures["agreement"]
    assert set(agreement) == {"instruction_rating", "response_rating"}  # free text has no alpha
    for question, units in (("instruction_rating", [[4, 4], [3, 2], [5, 5]]), ("response_rating", [[5, 4], [3, 3], [4, 5]])):
        assert agreement[question]["alpha"] == pytest.approx(expected_alpha(units, "ordinal"), abs=1e-4)

    # Distances: S1 alice +10 chars 10/70, S0 bob +30 chars 30/90, T0 alice cut to 15 chars 15/45; others 0.
    ai = figures["ai_feedback"]
    assert ai["kind"] == "sft"
    assert (ai["responses"], ai["edited"]) == (7, 3)
    assert ai["share_edited"] == pytest.approx(3 / 7, abs=1e-4)
    assert ai["mean_distance"] == pytest.approx((1 / 7 + 1 / 3 + 1 / 3) / 7, abs=1e-4)
    assert ai["mean_distance_edited"] == pytest.approx((1 / 7 + 1 / 3 + 1 / 3) / 3, abs=1e-4)
    assert shown["ai_feedback.share_edited"] == "42.9%" and shown["ai_feedback.mean_distance"] == "0.116"
    expected_by = {
        "recipe": {"self-instruct": (4, 2, (1 / 7 + 1 / 3) / 4), "magpie": (3, 1, (1 / 3) / 3)},
        "model": {"model-a": (5, 2, (1 / 7 + 1 / 3) / 5), "model-b": (2, 1, (1 / 3) / 2)},
    }
    for key, groups in expected_by.items():
        assert set(ai["by"][key]) == set(groups)
        for label, (responses, edited, mean) in groups.items():
            got = ai["by"][key][label]
            assert (got["responses"], got["edited"]) == (responses, edited), (key, label)
            assert got["mean_distance"] == pytest.approx(mean, abs=1e-4), (key, label)
            assert shown[f"ai_feedback.by.{key}.{label}.share_edited"] == f"{edited / responses * 100:.1f}%"
    assert shown["ai_feedback.by.model.model-b.mean_distance"] == "0.167"

    assert [(b["batch_id"], b["records"], b["recipe"], b["on_this_machine"], b["kept"], b["dropped"], b["dedup"])
            for b in figures["batches"]] == sorted([
                (sft["s"], 3, "self-instruct", True, 3, 0, None), (sft["t"], 2, "magpie", True, 2, 0, None)])


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def distinct_colours(png: bytes) -> int:
    """How many distinct colours the PNG's pixels have."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(set(image.getdata()))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("which", ["preference", "sft"])
def test_chromium_draws_every_plot(which, request, home, tmp_path):
    from tests.report.browser import ReportBrowser

    built = request.getfixturevalue(which)
    figures, html = report_of(built["name"], tmp_path, home)
    plots = {"progress", "annotators", "agreement", "rounds", *(f"ratings-{q}" for q in figures["ratings"])}
    plots |= {"judge-choice", "judge-confusion"} if which == "preference" else {"edits"}
    assert sorted(Figures(html).svg_ids) == sorted(plots)
    assert "<script" not in html and "http://" not in html and "https://" not in html

    with tempfile.TemporaryDirectory(prefix="curation-chromium-") as profile:
        browser = ReportBrowser(Path(profile))
        try:
            browser.open_file(tmp_path / "report.html")
            drawn = browser.js("Array.from(document.querySelectorAll('svg.plot')).map(s => "
                               "[s.id, s.getBoundingClientRect().width, s.getBoundingClientRect().height, "
                               "s.querySelectorAll('rect, polyline').length])")
            assert browser.requests_made() == []
            png = browser.screenshot()
        finally:
            browser.close()
    assert sorted(plot_id for plot_id, *_ in drawn) == sorted(plots)
    for plot_id, width, height, marks in drawn:
        assert width > 100 and height > 30 and marks > 0, plot_id  # laid out, with something drawn in it
    width, height = png_size(png)
    assert width >= 900 and height > 1500
    assert len(png) > 30_000 and distinct_colours(png) > 50  # not a blank page
    (tmp_path / "report.png").write_bytes(png)


def test_unknown_dataset_is_exit_2(argilla_server, review_workspace, tmp_path):
    name = unique("missing")
    result = invoke(["report", name, "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("Error")] == [
        f"Error: no Argilla dataset {name!r} in workspace {review_workspace!r}"]
    assert not (tmp_path / "r.html").exists()


def test_server_down_is_exit_1_without_the_key(tmp_path):
    key = "do-not-print-" + unique("key")
    result = invoke(["report", "x", "--out", str(tmp_path / "r.html")],
                    ARGILLA_API_URL="http://127.0.0.1:6939", ARGILLA_API_KEY=key)
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("Error")] == [
        "Error: cannot reach Argilla while connecting to http://127.0.0.1:6939 (ConnectError)"]
    assert key not in result.stdout + result.stderr


def test_unwritable_out_is_exit_2(preference, home, tmp_path):
    result = invoke(["report", preference["name"], "--out", str(tmp_path / "no-such-folder" / "r.html")],
                    CURATION_HOME=str(home))
    assert result.exit_code == 2 and "cannot write the report to" in result.stderr


def test_without_options_the_page_goes_to_report_html(preference, home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(["report", preference["name"]], CURATION_HOME=str(home))
    assert result.exit_code == 0, result.stderr
    wrote, *rounds, cost = result.stdout.splitlines()
    assert wrote == f"Wrote the review report of {preference['name']!r} to report.html"
    assert cost.startswith("Cost: ") and "h of review (11 reviews)" in cost
    assert [line.split(" (")[0] for line in rounds] == [f"Round 1: {preference['name']}"]  # no earlier round
    assert sorted(Figures((tmp_path / "report.html").read_text()).svg_ids)[0] == "agreement"


def test_help_reads_like_docs():
    result = invoke(["report", "--help"])
    assert result.exit_code == 0 and "ARGILLA_WORKSPACE" in result.stdout and "AI feedback vs humans" in result.stdout


def test_cost_gives_review_time_and_tokens_per_admitted_row(sft, home, tmp_path):
    # Batch S spent 1,500 tokens at $0.01; batch T 300 tokens with no price: the total is unpriced.
    figures, html = report_of(sft["name"], tmp_path, home)
    shown, cost = Figures(html).figures, figures["cost"]
    admitted = figures["rounds"][-1]["admitted"]
    assert admitted == cost["admitted"] and admitted > 0
    assert cost["model"] == {"batches": 2, "input_tokens": 1200, "output_tokens": 600, "usd": None,
                             "counted": ["backend usage"]}
    assert cost["per_admitted_row"]["tokens"] == pytest.approx(1800 / admitted, abs=1e-4)
    assert cost["per_admitted_row"]["usd"] is None and shown["cost.model.usd"] == "unpriced"
    assert shown["cost.model.tokens"] == "1,800"
    # The reviews were submitted seconds apart: every annotator's gaps count, none is a break.
    active = [a["active_seconds"] for a in figures["annotators"].values()]
    assert all(seconds is not None and seconds >= 0 for seconds in active)
    assert cost["human"]["reviews"] == 8 and cost["human"]["timed_annotators"] == 2
    assert cost["human"]["active_hours"] == pytest.approx(sum(active) / 3600, abs=1e-3)
    if sum(active):
        assert cost["per_admitted_row"]["human_seconds"] == pytest.approx(sum(active) / admitted, abs=1e-4)
