"""Every environment variable curation reads, its default and meaning: the one place.

Modules never read `os.environ` for configuration themselves; they call these functions.
`curate config` lists the table below (`VARIABLES`). Click options that take an env var
(`envvar=`) use the names defined here too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    meaning: str
    secret: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable("CURATION_HOME", "~/.curation", "Data folder: batches, cache, the embedded server."),
    Variable("CURATION_SERVER_DIR", "$CURATION_HOME/server", "The embedded Argilla server's data folder."),
    Variable("CURATION_SERVER_PORT", "6900", "Port of the embedded Argilla server."),
    Variable("CURATION_SEARCH_DB", "<server data>/curation-search.sqlite3", "The SQLite search index file (set by the server launcher)."),
    Variable("CURATION_CONFIGS_DIR", "the configs shipped in the package", "Folder holding sft.yaml and preference.yaml."),
    Variable("CURATION_SEED_MAX_CHARS", "100000", "Longest seed value `curate generate` accepts, in characters."),
    Variable("CURATION_REVIEW_CONFIG", "by the batch's kind", "Dataset settings file for `curate push`/`run`."),
    Variable("CURATION_PRIORITY", "judge-uncertainty (preference), deita (sft with Deita scores), else none", "`--priority` of `curate push`/`run`: how records' review_priority is scored."),
    Variable("CURATION_DATASET", "", "Argilla dataset for `push`, `run`, `status`, `export`."),
    Variable("ARGILLA_WORKSPACE", "", "Argilla workspace for every command that takes --workspace."),
    Variable("CURATION_USER_PASSWORD", "generated, shown once", "Password for `curate users add`."),
    Variable("ARGILLA_API_URL", "the embedded server", "An Argilla 2.x server to use instead of the embedded one."),
    Variable("ARGILLA_API_KEY", "the embedded owner's key", "API key for ARGILLA_API_URL; the owner's key at first start.", secret=True),
    Variable("ARGILLA_OWNER_PASSWORD", "generated, shown once", "The embedded owner's password at first start.", secret=True),
    Variable("ARGILLA_REDIS_URL", "a private redis on a unix socket", "A Redis for the embedded server instead of its own."),
    Variable("ARGILLA_DATABASE_URL", "SQLite in the server's data folder", "`curate server start --database`: PostgreSQL (postgresql+asyncpg://USER[:PASSWORD]@HOST:PORT/DB).", secret=True),
    Variable("CURATION_SERVER_PYTHON", "$CURATION_HOME/server-env/bin/python, made on first use", "The Python of the server's own environment (argilla-server and its pins), which runs `curate server ...`."),
    Variable("CURATION_SERVER_WORKERS", "1", "`curate server start --workers`: uvicorn worker processes (more than 1 needs PostgreSQL)."),
    Variable("CURATION_SEARCHES_PER_USER", "2", "Searches one user may run at once in a server process; more wait 2 s, then get HTTP 429."),
    Variable("CURATION_SEARCHES_AT_ONCE", "8", "Searches a server process runs at once, all users together; more wait 2 s, then get HTTP 429."),
    Variable("ARGILLA_HOME_PATH", "~/.argilla", "argilla-server's home (where the index lives when CURATION_SEARCH_DB is unset)."),
    Variable("CURATION_BACKEND", "llamacpp", "`--backend` of `curate generate`/`run` (NAME[:MODEL])."),
    Variable("CURATION_JUDGE", "the first backend", "`--judge` of `curate generate`/`run`."),
    Variable("CURATION_BASE_URL", "the backend's default", "`--base-url` of `curate generate`/`run`."),
    Variable("CURATION_API_KEY", "OPENAI_API_KEY / HF_TOKEN", "`--api-key` of `curate generate`/`run`.", secret=True),
    Variable("OPENAI_API_KEY", "", "API key for `--backend openai:MODEL`.", secret=True),
    Variable("OPENAI_BASE_URL", "https://api.openai.com/v1", "Base URL for `--backend openai:MODEL`."),
    Variable("HF_TOKEN", "the token saved by `hf auth login`", "Hugging Face token: Hub export, `hf:` backend.", secret=True),
    Variable("HF_ENDPOINT", "https://huggingface.co", "The Hub's address (huggingface_hub's own variable)."),
    Variable("CURATION_PRICES", "$CURATION_HOME/prices.yaml", "Price table (YAML/JSON): per model, USD per 1M `input` and `output` tokens, for the manifest's `cost` and `--budget-usd`."),
    Variable("CURATION_FAULT", "", "Tests only: the embedded server exits hard at this point (before-index)."),
)


def _get(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def value_of(name: str) -> str | None:
    """The current value of variable `name` (one of VARIABLES), None when unset or empty."""
    return _get(name)


def home() -> Path:
    """The data folder: `$CURATION_HOME`, else `~/.curation`."""
    return Path(_get("CURATION_HOME") or Path.home() / ".curation").expanduser()


def batches_dir() -> Path:
    return home() / "batches"


def prices_file() -> Path:
    """The lead's price table (curation.cost); none is shipped."""
    return Path(_get("CURATION_PRICES") or home() / "prices.yaml").expanduser()


def cache_dir() -> Path:
    """distilabel's pipeline cache, so an interrupted generation resumes."""
    return home() / "cache"


def server_dir() -> Path:
    """The embedded Argilla server's data: `$CURATION_SERVER_DIR`, else `<home>/server`."""
    override = _get("CURATION_SERVER_DIR")
    return Path(override).expanduser() if override else home() / "server"


def argilla_api_url() -> str | None:
    return _get("ARGILLA_API_URL")


def argilla_api_key() -> str | None:
    return _get("ARGILLA_API_KEY")


def argilla_owner_password() -> str | None:
    return _get("ARGILLA_OWNER_PASSWORD")


def argilla_redis_url() -> str | None:
    return _get("ARGILLA_REDIS_URL")


def argilla_database_url() -> str | None:
    return _get("ARGILLA_DATABASE_URL")


def server_python() -> str | None:
    return _get("CURATION_SERVER_PYTHON")


def server_workers() -> int:
    return int(_get("CURATION_SERVER_WORKERS") or 1)


def _count(name: str, default: int) -> int:
    value = _get(name)
    if value is None:
        return default
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def searches_per_user() -> int:
    """How many searches one user may run at once in a server process."""
    return _count("CURATION_SEARCHES_PER_USER", 2)


def searches_at_once() -> int:
    """How many searches a server process runs at once, every user together."""
    return _count("CURATION_SEARCHES_AT_ONCE", 8)


def read_wait_s() -> float:
    """The longest an API read waits for the writes in flight in a server process, in seconds
    (CURATION_READ_WAIT_MS; 0: reads never wait). See curation.server.writes_first."""
    value = _get("CURATION_READ_WAIT_MS") or "5000"
    try:
        wait_ms = int(value)
    except ValueError:
        wait_ms = -1
    if wait_ms < 0:
        from curation.errors import BadInput

        raise BadInput(f"CURATION_READ_WAIT_MS must be a whole number of milliseconds, 0 or more, not {value!r}")
    return wait_ms / 1000


def argilla_home_path() -> str:
    return _get("ARGILLA_HOME_PATH") or os.path.join("~", ".argilla")


def search_db() -> str | None:
    return _get("CURATION_SEARCH_DB")


def seed_max_chars() -> int:
    """The longest seed value accepted, in characters: a bound on what is sent to the model."""
    value = _get("CURATION_SEED_MAX_CHARS") or "100000"
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        from curation.errors import BadInput

        raise BadInput(f"CURATION_SEED_MAX_CHARS must be a positive whole number of characters, not {value!r}")
    return limit


def configs_dir() -> Path | None:
    value = _get("CURATION_CONFIGS_DIR")
    return Path(value).expanduser() if value else None


def openai_api_key() -> str | None:
    return _get("OPENAI_API_KEY")


def openai_base_url() -> str | None:
    return _get("OPENAI_BASE_URL")


def hf_token() -> str | None:
    """The Hugging Face token as huggingface_hub finds it: HF_TOKEN, then `hf auth login`'s file."""
    from huggingface_hub import get_token

    return get_token()


def hf_endpoint() -> str:
    from huggingface_hub import constants

    return (_get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def fault() -> str | None:
    """The crash point a test asked the server to stop dead at (`curation.server.faults`)."""
    return _get("CURATION_FAULT")


def secret_values() -> list[str]:
    """The values of every secret variable that is set (for scrubbing logs)."""
    return [v for v in (_get(var.name) for var in VARIABLES if var.secret) if v]
