"""Reviewed Argilla datasets with known answers, built once on the session's real server.

Annotators: two created here ("ann1", "ann2" plus a suffix) and, for three-way votes, the owner.

SFT records (generated response "G<n>" unless noted):
    s1  both keep the proposal                 s6  ann1 discards, ann2 submits "Kept 6"
    s2  both edit to "Fixed 2"                 s7  ann1 only saves a draft
    s3  ann1 "A 3", ann2 "B 3"                 s8  nobody answered
    s4  only ann1 answers, edits to "Solo 4"   s9  "Same text" kept, modulo whitespace
    s5  both discard                           s10 ann1 and ann2 "X 10", the owner "Y 10"

DPO records (3 responses; ranking as {response: rank}); the dataset's min_submitted is 2:
    p1  both: 2 > 1 > 3                        p5  the owner discards (no values), ann1: 1 > 2 > 3
    p2  ann1: 1 > 2 > 3, ann2: 3 > 2 > 1       p6  both tie at the bottom: 1 > 2 = 3
    p3  ann1 ties at the top, ann2: 1 > 2 > 3  p7  only ann1: 3 > 1 > 2
    p4  both tie everything
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.review.config import default_config_path, load_config


@dataclass(frozen=True)
class Reviewed:
    workspace: str
    sft: str
    dpo: str
    empty: str
    ann1: str
    ann2: str
    owner: str


def _sft(user, text, status="submitted"):
    import argilla as rg

    if status == "discarded":  # no answers, just the verdict
        return [rg.Response("response", None, user_id=user.id, status="discarded")]
    values = {"response": text} if status == "draft" else {"instruction_rating": 4, "response": text, "response_rating": 4}
    return [rg.Response(q, v, user_id=user.id, status=status) for q, v in values.items()]


def _rank(user, order: dict[int, int]):
    import argilla as rg

    value = [{"value": f"response_{k}", "rank": r} for k, r in order.items()]
    return [rg.Response("ranking", value, user_id=user.id, status="submitted")] + [
        rg.Response(f"rating_{k}", 3, user_id=user.id, status="submitted") for k in order
    ]


def _settings(client, kind: str, tmp_path, replace: dict[str, str] | None = None, num_responses=None):
    """The project's review settings for `kind`, with some lines changed."""
    text = default_config_path(kind).read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text)
    return load_config(path, num_responses=num_responses).settings(client)


@pytest.fixture(scope="session")
def reviewed(argilla_client, tmp_path_factory) -> Reviewed:
    import argilla as rg

    client, tag = argilla_client, uuid.uuid4().hex[:6]
    tmp = tmp_path_factory.mktemp("export-configs")
    ws = rg.Workspace(name=f"export-{tag}", client=client).create()
    users = []
    for name in ("ann1", "ann2"):
        user = rg.User(username=f"{name}-{tag}", password=uuid.uuid4().hex, role="annotator", client=client).create()
        ws.add_user(user)
        users.append(user)
    a1, a2 = users
    owner = client.me

    sft = rg.Dataset(f"sft-{tag}", workspace=ws, settings=_settings(client, "sft", tmp), client=client).create()
    meta = {"batch_id": "b-sft", "recipe": "prompt", "model": "m1"}
    plan = {
        1: _sft(a1, "G1") + _sft(a2, "G1"),
        2: _sft(a1, "Fixed 2") + _sft(a2, "Fixed 2"),
        3: _sft(a1, "A 3") + _sft(a2, "B 3"),
        4: _sft(a1, "Solo 4"),
        5: _sft(a1, None, "discarded") + _sft(a2, None, "discarded"),
        6: _sft(a1, None, "discarded") + _sft(a2, "Kept 6"),
        7: _sft(a1, "Draft 7", "draft"),
        8: [],
        9: _sft(a1, "Same text  \n") + _sft(a2, "Same text"),
        10: _sft(a1, "X 10") + _sft(a2, "X 10") + _sft(owner, "Y 10"),
    }
    sft.records.log(
        [
            rg.Record(
                id=f"s{n}",
                fields={"instruction": f"I{n}", "generated_response": "Same text" if n == 9 else f"G{n}"},
                metadata={**meta, **({"recipe": "magpie", "model": "m2"} if n == 10 else {})},
                responses=responses or None,
            )
            for n, responses in plan.items()
        ]
    )

    dpo_settings = _settings(client, "preference", tmp, {"min_submitted: 1": "min_submitted: 2"}, num_responses=3)
    dpo = rg.Dataset(f"dpo-{tag}", workspace=ws, settings=dpo_settings, client=client).create()
    ranks = {
        1: _rank(a1, {2: 1, 1: 2, 3: 3}) + _rank(a2, {2: 1, 1: 2, 3: 3}),
        2: _rank(a1, {1: 1, 2: 2, 3: 3}) + _rank(a2, {3: 1, 2: 2, 1: 3}),
        3: _rank(a1, {1: 1, 2: 1, 3: 2}) + _rank(a2, {1: 1, 2: 2, 3: 3}),
        4: _rank(a1, {1: 1, 2: 1, 3: 1}) + _rank(a2, {1: 1, 2: 1, 3: 1}),
        5: _rank(a1, {1: 1, 2: 2, 3: 3}),
        6: _rank(a1, {1: 1, 2: 2, 3: 2}) + _rank(a2, {1: 1, 2: 2, 3: 2}),
        7: _rank(a1, {3: 1, 1: 2, 2: 3}),
    }
    dpo.records.log(
        [
            rg.Record(
                id=f"p{n}",
                fields={"instruction": f"Q{n}", **{f"response_{k}": f"P{n}-R{k}" for k in (1, 2, 3)}},
                metadata={"batch_id": "b-pref", "recipe": "ultrafeedback", "model": "m3"},
                responses=responses,
            )
            for n, responses in ranks.items()
        ]
    )
    # A discard with no values at all, as the API allows (and the SDK's Record cannot read).
    p5 = next(m for m in client.api.records.list(dpo.id, limit=10) if m.external_id == "p5")
    reply = client.api.http_client.post(f"/api/v1/records/{p5.id}/responses", json={"status": "discarded", "values": None})
    assert reply.status_code == 201, reply.text

    empty = rg.Dataset(f"empty-{tag}", workspace=ws, settings=_settings(client, "sft", tmp), client=client).create()
    empty.records.log([{"instruction": "I", "generated_response": "G"}, {"instruction": "J", "generated_response": "H"}])
    return Reviewed(ws.name, sft.name, dpo.name, empty.name, a1.username, a2.username, owner.username)


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    """A CURATION_HOME with no batch in it, for the commands that must write none."""
    home = tmp_path / "home"
    monkeypatch.setenv("CURATION_HOME", str(home))
    return home


def refused(home: Path, *args: str) -> str:
    """The one `Error:` line of `curate ARGS`, which must exit 2 with no traceback and write no batch in `home`."""
    from curation.cli import main

    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert not (home / "batches").exists() or not any((home / "batches").iterdir())
    return errors[0]
