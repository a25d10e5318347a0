"""`export_dataset` against the real Argilla server: exactly the expected rows per policy and format."""

from __future__ import annotations

import re

import datasets
import httpx
import pytest
import yaml

from curation.errors import ArgillaUnavailable, BadInput
from curation.export import export_dataset, write
from curation.argilla.records import iter_reviewed
from curation.export.select import Counts, NothingToExport

pytestmark = pytest.mark.slow


def sft_row(r, n, text, annotators, agreement=1.0, edited=True, recipe="prompt", model="m1"):
    return {
        "messages": [{"role": "user", "content": f"I{n}"}, {"role": "assistant", "content": text}],
        "edited": edited,
        "batch_id": "b-sft",
        "recipe": recipe,
        "model": model,
        "record_id": f"s{n}",
        "annotators": sorted(getattr(r, a) for a in annotators),
        "agreement": agreement,
    }


def sft_expected(r, agreement, min_submitted=1):
    rows = {
        1: sft_row(r, 1, "G1", ["ann1", "ann2"], edited=False),
        2: sft_row(r, 2, "Fixed 2", ["ann1", "ann2"]),
        4: sft_row(r, 4, "Solo 4", ["ann1"]),
        6: sft_row(r, 6, "Kept 6", ["ann2"]),
        9: sft_row(r, 9, "Same text", ["ann1", "ann2"], edited=False),
        10: sft_row(r, 10, "X 10", ["ann1", "ann2", "owner"], 0.6667, recipe="magpie", model="m2"),
    }
    keep = {"majority": [1, 2, 4, 9, 10], "unanimous": [1, 2, 4, 9], "any": [1, 2, 4, 6, 9, 10]}[agreement]
    if min_submitted == 2:
        keep = [n for n in keep if n != 4]
    return [rows[n] for n in keep]


def dpo_row(n, chosen, rejected, annotators, r, agreement=1.0):
    return {
        "prompt": [{"role": "user", "content": f"Q{n}"}],
        "chosen": [{"role": "assistant", "content": f"P{n}-R{chosen}"}],
        "rejected": [{"role": "assistant", "content": f"P{n}-R{rejected}"}],
        "batch_id": "b-pref",
        "recipe": "ultrafeedback",
        "model": "m3",
        "record_id": f"p{n}",
        "annotators": sorted(getattr(r, a) for a in annotators),
        "agreement": agreement,
    }


def read_back(out):
    rows = datasets.load_dataset(str(out), split="train").to_list()
    return sorted(rows, key=lambda row: int(row["record_id"][1:]))


def card_meta(out):
    text = (out / "README.md").read_text()
    return yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", text, re.S).group(1)), text


@pytest.mark.parametrize(
    "agreement, min_submitted, dropped",
    [
        ("majority", None, {"discarded": 2, "too_few_submitted": 2, "disagreement": 1}),
        ("unanimous", None, {"discarded": 2, "too_few_submitted": 2, "disagreement": 2}),
        ("any", None, {"discarded": 1, "too_few_submitted": 2, "disagreement": 1}),
        ("majority", 2, {"discarded": 2, "too_few_submitted": 3, "disagreement": 1}),
    ],
)
def test_sft_policies(reviewed, argilla_client, tmp_path, agreement, min_submitted, dropped):
    out = tmp_path / "out"
    report = export_dataset(
        reviewed.sft, format="sft", out=out, agreement=agreement, min_submitted=min_submitted, client=argilla_client
    )
    expected = sft_expected(reviewed, agreement, min_submitted or 1)
    assert read_back(out) == expected
    assert report.min_submitted == (min_submitted or 1)  # default: the dataset's task distribution
    assert report.counts == Counts(seen=10, exported=len(expected), **dropped)

    meta, text = card_meta(out)
    # num_bytes is the Arrow size of the rows: computed here from the expected rows themselves.
    import pyarrow as pa

    from curation.export.formats import FORMATS

    arrow_bytes = pa.Table.from_pylist(expected, schema=FORMATS["sft"].schema).nbytes
    assert meta["dataset_info"]["splits"] == [
        {"name": "train", "num_bytes": arrow_bytes, "num_examples": len(expected)}
    ]
    assert arrow_bytes > 0
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"}]
    assert f"| **exported** | **{len(expected)}** |" in text
    assert f"| annotators disagreed (`disagreement`) | {dropped['disagreement']} |" in text
    assert f"Agreement rule: **{agreement}**" in text
    assert f'load_dataset("{out}", split="train")' in text
    recipes = {}
    for row in expected:
        recipes[row["recipe"]] = recipes.get(row["recipe"], 0) + 1
    for recipe, count in recipes.items():  # unanimous drops s10, the only magpie row
        assert f"| {recipe} | {count} |" in text
    assert ("| magpie |" in text) == (agreement != "unanimous")


@pytest.mark.parametrize(
    "agreement, keep, dropped",
    [
        ("majority", [1, 7], {"discarded": 1, "disagreement": 2, "tie": 2}),
        ("unanimous", [1, 7], {"discarded": 1, "disagreement": 2, "tie": 2}),
        ("any", [1, 3, 5, 7], {"disagreement": 1, "tie": 2}),
    ],
)
def test_dpo_policies(reviewed, argilla_client, tmp_path, agreement, keep, dropped):
    r = reviewed
    rows = {
        1: dpo_row(1, 2, 3, ["ann1", "ann2"], r),
        3: dpo_row(3, 1, 3, ["ann1", "ann2"], r, agreement=0.5),  # ann1's tied ranking is ignored
        5: dpo_row(5, 1, 3, ["ann1"], r),  # one submission outweighs the owner's discard
        7: dpo_row(7, 3, 2, ["ann1"], r),
    }
    out = tmp_path / "out"
    report = export_dataset(r.dpo, format="dpo", out=out, agreement=agreement, min_submitted=1, client=argilla_client)
    assert read_back(out) == [rows[n] for n in keep]
    assert report.counts == Counts(seen=7, exported=len(keep), **dropped)
    meta, _ = card_meta(out)
    assert [f["name"] for f in meta["dataset_info"]["features"]][:3] == ["prompt", "chosen", "rejected"]


def test_dpo_min_submitted_defaults_to_the_dataset_distribution(reviewed, argilla_client, tmp_path):
    report = export_dataset(reviewed.dpo, format="dpo", out=tmp_path, workspace=reviewed.workspace, client=argilla_client)
    assert report.min_submitted == 2
    assert [row["record_id"] for row in read_back(tmp_path)] == ["p1"]
    assert report.counts == Counts(seen=7, discarded=1, too_few_submitted=1, disagreement=2, tie=2, exported=1)


def test_reexport_replaces_the_previous_one(reviewed, argilla_client, tmp_path, monkeypatch):
    with monkeypatch.context() as small:  # an earlier, larger export in 3 shards
        small.setattr(write, "CHUNK_ROWS", 2)
        small.setattr(write, "SHARD_ROWS", 2)
        export_dataset(reviewed.sft, format="sft", out=tmp_path, agreement="any", client=argilla_client)
    assert len(list((tmp_path / "data").iterdir())) == 3
    export_dataset(reviewed.sft, format="sft", out=tmp_path, agreement="unanimous", client=argilla_client)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["train-00000-of-00001.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [write.MARKER, "README.md", "data"]
    rows = read_back(tmp_path)
    assert rows == sft_expected(reviewed, "unanimous")
    assert len({row["record_id"] for row in rows}) == len(rows)
    assert card_meta(tmp_path)[0]["dataset_info"]["splits"][0]["num_examples"] == len(rows)


def test_refuses_a_folder_that_is_not_an_export(reviewed, argilla_client, tmp_path):
    (tmp_path / "data").mkdir()
    files = {"data/train.parquet": b"a project's own data", "README.md": b"# My project\n", "notes.txt": b"mine"}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(BadInput, match=r"is not empty and holds no earlier `curate export`; refusing"):
        export_dataset(reviewed.sft, format="sft", out=tmp_path, client=argilla_client)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == sorted(files)
    assert all((tmp_path / name).read_bytes() == content for name, content in files.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "data", "notes.txt"]  # no staging left


def test_a_failed_reexport_keeps_the_previous_one(reviewed, argilla_client, tmp_path, monkeypatch):
    export_dataset(reviewed.sft, format="sft", out=tmp_path, client=argilla_client)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(NothingToExport):
        export_dataset(reviewed.empty, format="sft", out=tmp_path, client=argilla_client)

    real_get = argilla_client.api.http_client.get

    def server_gone_while_listing(url, *args, **kwargs):  # the connection drops mid-export
        if url.endswith("/records"):
            raise httpx.ConnectError("All connection attempts failed")
        return real_get(url, *args, **kwargs)

    monkeypatch.setattr(argilla_client.api.http_client, "get", server_gone_while_listing)
    with pytest.raises(ArgillaUnavailable, match=r"^cannot reach Argilla while listing the dataset's records \(ConnectError\)$"):
        export_dataset(reviewed.sft, format="sft", out=tmp_path, agreement="any", client=argilla_client)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_pages_cover_every_record_once(reviewed, argilla_client):
    dataset = argilla_client.datasets(reviewed.sft, workspace=reviewed.workspace)
    small_pages = [r.id for r in iter_reviewed(argilla_client, dataset.id, page_size=3)]
    assert sorted(small_pages) == sorted(f"s{n}" for n in range(1, 11))
    assert small_pages == [r.id for r in iter_reviewed(argilla_client, dataset.id)]


def test_nothing_validated_writes_nothing(reviewed, argilla_client, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(NothingToExport, match=r"no record of .* passes the policy \(2 seen; dropped: too_few_submitted=2\)"):
        export_dataset(reviewed.empty, format="sft", out=out, client=argilla_client)
    assert not out.exists()


def test_format_must_match_the_dataset(reviewed, argilla_client, tmp_path):
    with pytest.raises(BadInput, match="cannot be exported as dpo: it lacks question 'ranking'"):
        export_dataset(reviewed.sft, format="dpo", out=tmp_path, client=argilla_client)
    with pytest.raises(BadInput, match="no Argilla dataset 'nope-nope' in any workspace"):
        export_dataset("nope-nope", format="sft", out=tmp_path, client=argilla_client)
    with pytest.raises(BadInput, match="no workspace 'nope-nope' on the server"):
        export_dataset(reviewed.sft, format="sft", out=tmp_path, workspace="nope-nope", client=argilla_client)
