"""One shim per frozen upstream: what curation borrows from it, patches in it, and checks.

distilabel 1.5.3, argilla (SDK) 2.8.0 and argilla-server 2.8.0 get no more releases, and Ray's
private modules change without notice. Every private or undocumented name of theirs that
curation uses is imported here, in the upstream's own module (`curation.upstream.distilabel`,
`.argilla`, `.argilla_server`, `.ray`), and callers take it from there; a known upstream bug is
fixed there too, named with the upstream file it corrects. Each shim checks the installed
version when it is imported (`require`) and fails in one line if it is not the one the shim was
written for, so a different upstream is refused before it can misbehave. Each name a shim
re-exports has a contract test in tests/upstream/ (it exists, with the shape relied on).

Public, documented API (`rg.Dataset`, `distilabel.steps.tasks.TextGeneration`, `ray.init`, ...)
is imported directly where it is used.
"""

from __future__ import annotations

from importlib import metadata

from curation.errors import CurationError


class UpstreamChanged(CurationError):
    """The installed upstream is not the one a shim or fix of ours was written for (raised by
    every module of ours that changes or borrows an upstream's internals)."""

    # Running again will not help: the environment must hold the version the project pins.
    exit_code = 2


class UpstreamVersionMismatch(UpstreamChanged):
    """A shim was imported beside another version of its upstream than the one it was written for."""


def require(distribution: str, version: str) -> str:
    """Check that `distribution` is installed at exactly `version`; returns it, else raises in one line."""
    try:
        installed = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        installed = None
    if installed != version:
        found = f"{distribution} {installed} is installed" if installed else f"{distribution} is not installed"
        raise UpstreamVersionMismatch(
            f"{found}, but curation was written for {distribution} {version}",
            hint=f"pip install '{distribution}=={version}' in this environment",
        )
    return installed
