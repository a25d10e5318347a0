import pytest


@pytest.fixture(autouse=True)
def _isolated_home(curation_home):
    """Child batches go to the batches folder by default: never the user's own."""
    return curation_home
