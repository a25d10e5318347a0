"""The Hugging Face Hub side: push an export folder as one commit, and load an export back."""

from __future__ import annotations

from pathlib import Path

import httpx

from curation import settings
from curation.errors import AccessRefused, BadInput, CurationError, ServiceUnavailable
from curation.export.write import DATA_DIR

# The export owns these paths in the repo; a push replaces them and leaves anything else alone.
OWNED = ["README.md", f"{DATA_DIR}/*"]


def check_repo_id(repo_id: str) -> None:
    """`ORG/NAME` in the Hub's naming rules, else BadInput."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        if repo_id.count("/") != 1:
            raise HFValidationError("expected the form ORG/NAME")
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise BadInput(f"invalid repo id {repo_id!r}: {exc}") from None


def endpoint() -> str:
    """The Hub URL: env HF_ENDPOINT read now (huggingface_hub reads it only once, at import)."""
    return settings.hf_endpoint()


def push_folder(folder: Path, repo_id: str, *, token: str, private: bool, message: str) -> str:
    """Create the dataset repo if needed and commit the export; returns the commit URL.

    One commit adds README.md and the data files and deletes the repo's stale data files.
    """
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint(), token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if private:  # create_repo ignores `private` for an existing repo; never leave it public
            api.update_repo_settings(repo_id, repo_type="dataset", private=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=folder,
            allow_patterns=OWNED,
            delete_patterns=[f"{DATA_DIR}/*"],
            commit_message=message,
        )
    except Exception as exc:
        raise _hub_error(exc, repo_id) from None
    return commit.commit_url


def _hub_error(exc: Exception, repo_id: str) -> CurationError:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (401, 403):
            return AccessRefused(
                f"the Hub refused {repo_id!r} (HTTP {status}): the token is invalid or cannot write there",
                hint="use a token with write access (HF_TOKEN, `hf auth login` or --token)",
            )
        if 400 <= status < 500:
            return BadInput(f"the Hub refused pushing {repo_id!r}: HTTP {status}")
        return ServiceUnavailable(f"the Hub failed pushing {repo_id!r}: HTTP {status}")
    if isinstance(exc, (httpx.TransportError, ConnectionError)):
        return ServiceUnavailable(f"cannot reach the Hub at {endpoint()}: {type(exc).__name__}")
    return CurationError(f"pushing {repo_id!r} failed: {type(exc).__name__}")


def pull(repo_or_dir: str, *, split: str = "train", token: str | None = None):
    """An export as a `datasets.Dataset`: `load_dataset(repo_or_dir, split=split)`."""
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    path = Path(repo_or_dir).expanduser()
    if not path.exists():
        try:
            check_repo_id(repo_or_dir)
        except BadInput:
            raise BadInput(f"{repo_or_dir!r} is neither a folder nor a Hub repo id (ORG/NAME)") from None
    elif not path.is_dir():
        raise BadInput(f"{repo_or_dir} is a file; give the export folder or a Hub repo id")
    try:
        return datasets.load_dataset(str(path) if path.exists() else repo_or_dir, split=split, token=token)
    except DatasetNotFoundError:
        raise BadInput(f"no dataset {repo_or_dir!r} on {endpoint()} (or no access with this token)") from None
    except (ValueError, FileNotFoundError) as exc:  # unknown split, unreadable layout, no data files
        raise BadInput(f"cannot load {repo_or_dir!r}: {' '.join(str(exc).split())[:300]}") from None
    except (httpx.TransportError, ConnectionError) as exc:
        raise ServiceUnavailable(f"cannot reach the Hub at {endpoint()}: {type(exc).__name__}") from None
