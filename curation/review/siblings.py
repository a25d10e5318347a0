"""Adaptive overlap's pair of datasets: DATASET and its sibling DATASET-overlap, read as one.

`curate push --overlap-policy adaptive` sends the records whose review priority is at or above a
threshold to the sibling, which has the main dataset's settings, workspace and one more metadata
property (`overlap_of`: the main dataset's name, on every record), and its own, higher,
distribution `min_submitted`: the records worth it get more annotators. Each record lives in one
of the two. They are linked both ways through dataset metadata, as an adjudication dataset is to
its source (curation/review/adjudicate.py): the main one names the sibling's id, the sibling the
main one's.

`parts` is the one place that turns a dataset into the datasets it stands for: `curate status`,
`curate report` and `curate export` read every part, each record against its own part's
`min_submitted`.
"""

from __future__ import annotations

import warnings

from curation.argilla.errors import argilla_errors
from curation.errors import BadInput

FIXED, ADAPTIVE = "fixed", "adaptive"
OVERLAP_POLICIES = (FIXED, ADAPTIVE)
SUFFIX = "-overlap"  # of the sibling's name
OVERLAP_PART = "curation_overlap_part"  # the main dataset's dataset metadata: the sibling's id
OVERLAP_PART_OF = "curation_overlap_part_of"  # the sibling's dataset metadata: the main dataset's id


def sibling_name(name: str) -> str:
    """The name of dataset `name`'s overlap sibling."""
    return f"{name}{SUFFIX}"


def parts(client, dataset) -> list:
    """The datasets that `dataset` stands for: itself, then its overlap sibling when it has one.

    A sibling read on its own is one part: its main dataset is what stands for the pair."""
    sibling = find_sibling(client, dataset)
    return [dataset] if sibling is None else [dataset, sibling]


def find_sibling(client, dataset):
    """The overlap sibling (an `rg.Dataset`) `dataset`'s metadata names, if it still exists and names
    `dataset` back; else None."""
    from curation.review.adjudicate import _metadata_of

    with argilla_errors(f"looking up the overlap part of {dataset.name!r}"):
        linked = _metadata_of(client, dataset.id).get(OVERLAP_PART)
        if not linked:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SDK warns when the id is gone
            candidate = client.datasets(id=linked)
        candidate = candidate.get() if candidate is not None else None  # get() loads the settings
        if candidate is None or _metadata_of(client, candidate.id).get(OVERLAP_PART_OF) != str(dataset.id):
            return None
        return candidate


def main_of(client, dataset) -> str | None:
    """The id of the dataset that `dataset` is the overlap sibling of, or None."""
    from curation.review.adjudicate import _metadata_of

    with argilla_errors(f"reading dataset {dataset.name!r}"):
        return _metadata_of(client, dataset.id).get(OVERLAP_PART_OF)


def check_adoptable(client, candidate, main, marker: str) -> None:
    """An existing dataset by the sibling's name may take the main dataset's records only if it is
    that dataset's sibling, or one a push stopped before linking it (no link, metadata `marker`)."""
    link = main_of(client, candidate)
    ours = marker in {m.name for m in candidate.settings.metadata}
    if (main is not None and link == str(main.id)) or (link is None and ours):
        return
    raise BadInput(f"dataset {candidate.name!r} in workspace {candidate.workspace.name!r} exists and is not the "
                   f"overlap part of {sibling_name_of(candidate)!r}",
                   hint="push to another --dataset, or with --overlap-policy fixed")


def sibling_name_of(sibling) -> str:
    return sibling.name.removesuffix(SUFFIX)


def link(client, main, sibling) -> None:
    """Make `sibling` the overlap part of `main` (both ways; other dataset metadata is kept)."""
    from curation.review.adjudicate import _set_metadata

    with argilla_errors(f"linking {sibling.name!r} to {main.name!r}"):
        _set_metadata(client, sibling.id, OVERLAP_PART_OF, str(main.id))
        _set_metadata(client, main.id, OVERLAP_PART, str(sibling.id))
