"""`curate generate --ray [ADDRESS]`: a recipe's pipeline as distilabel's RayPipeline on a Ray cluster.

The batch and its manifest are the same as a local run's, plus `cluster`: the address, Ray's
version, the live nodes with their resources, and the node each step's actor ran on (read from
Ray's actor table, which keeps finished actors). Every node needs this package installed (its
steps and LLM classes are unpickled there) and whatever its steps load (a GGUF, vLLM, a GPU).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from curation.errors import BackendUnavailable, BadInput

LOCAL = "local"  # `--ray` without an address


@contextmanager
def connected(address: str) -> Iterator[dict]:
    """Connect to the cluster at `address` (host:port), or start a local instance for LOCAL; yields its description."""
    try:
        import ray

        import curation.upstream.ray  # noqa: F401  (Ray's version, checked before anything starts)
    except ImportError:
        raise BadInput("--ray needs Ray, which is not installed", hint="pip install -e '.[ray]'") from None
    init = {"logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if address == LOCAL:
            with loopback_only():  # a new instance for this run, even where another one is running
                ray.init(address="local", include_dashboard=False, **init)
        else:
            ray.init(address=address, **init)
    except (ConnectionError, TimeoutError) as exc:
        raise BackendUnavailable(f"Ray cluster at {address} unreachable: {' '.join(str(exc).split())[:200]}",
                                 hint="start it with `ray start --head`, or drop the address for a local instance"
                                 ) from None
    try:
        yield describe(address)
    finally:
        ray.shutdown()


@contextmanager
def loopback_only() -> Iterator[None]:
    """Ray's single-machine mode while starting: the node's address is 127.0.0.1, so its servers bind loopback.

    On Linux, Ray otherwise gives a new node the machine's interface address (rewriting even an
    explicit 127.0.0.1), and its gRPC servers then listen on every interface; a local instance
    has no use for that. This is the mode Ray itself uses on macOS and Windows
    (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`), read from `ray_constants` at each call.
    """
    from curation.upstream.ray import ray_constants

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def describe(address: str) -> dict:
    """The manifest's `cluster`: address, Ray version, live nodes and their resources."""
    import ray

    nodes = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        resources = {k: v for k, v in node.get("Resources", {}).items()
                     if not k.startswith("node:") and k not in ("memory", "object_store_memory")}
        nodes.append({"node_id": node["NodeID"], "address": node["NodeManagerAddress"], "resources": resources})
    return {"address": address, "ray_version": ray.__version__, "nodes": nodes, "steps": {}}


def step_nodes(pipeline_name: str, step_names) -> dict[str, list[str]]:
    """{step name: node ids its replicas ran on} for this driver's run of `pipeline_name` (steps served
    from distilabel's cache ran nowhere, and are left out).

    distilabel names each step's actor `distilabel-<pipeline>-<step>-<replica>`. Ray's public
    state API needs the dashboard (`ray[default]`); its GCS actor table answers without it.
    """
    import ray

    from curation.upstream.ray import state

    job = ray.get_runtime_context().get_job_id()
    prefix = f"distilabel-{pipeline_name}-"
    steps: dict[str, set[str]] = {}
    for actor in state.actors().values():
        name = actor.get("Name") or ""
        if actor.get("JobID") != job or not name.startswith(prefix):
            continue
        step = name[len(prefix):].rsplit("-", 1)[0]
        if step not in step_names:  # distilabel's own actors (its log queue)
            continue
        steps.setdefault(step, set()).add(actor.get("Address", {}).get("NodeID"))
    return {step: sorted(n for n in nodes if n) for step, nodes in sorted(steps.items())}
