"""`--ray [ADDRESS]`: a recipe as distilabel's RayPipeline, on a two-node Ray cluster and on a local instance.

Every Ray process stays on 127.0.0.1. On Linux, ray 2.60 gives a node the machine's interface
address, rewriting even an explicit `--node-ip-address 127.0.0.1` (`resolve_ip_for_localhost`),
and then its gRPC servers listen on every interface; only a node whose address is exactly
127.0.0.1 binds loopback. `ray start --address` cannot start such a node (Ray's loopback mode
refuses to add nodes from the CLI), so the cluster is Ray's own multi-node harness
(`ray.cluster_utils.Cluster`, what Ray's test suite uses): the same gcs_server, raylets and
agents as `ray start`, a head plus a second node carrying the custom resource `second_node`,
each given the address 127.0.0.1. The driver (`curate generate --ray ADDRESS`, in this process)
connects in Ray's loopback mode too (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, the mode Ray uses on
macOS and Windows), which keeps the address it is given. Each test checks that no Ray process
listens on anything but loopback; the cluster is shut down after its test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.sockets import LISTEN, socket_inodes, sockets_held

pytestmark = pytest.mark.slow

LOOPBACK = "127.0.0.1"


def listening_addresses(pids: set[int]) -> set[str]:
    """Local addresses of the TCP sockets in LISTEN state owned by `pids`."""
    listening = socket_inodes(LISTEN)
    return {listening[inode][0] for pid in pids for inode in sockets_held(pid, listening)}


def ray_pids() -> set[int]:
    """Every process running Ray's binaries or Ray's workers and agents, and this one (the driver)."""
    pids = {os.getpid()}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if "site-packages/ray/" in cmdline or cmdline.startswith("ray::"):
            pids.add(int(proc.name))
    return pids


def assert_loopback_only() -> None:
    addresses = listening_addresses(ray_pids())
    assert addresses and addresses <= {LOOPBACK, f"::ffff:{LOOPBACK}"}, addresses


@pytest.fixture
def ray_cluster():
    """The address of a head and a second node with the custom resource `second_node`, all on 127.0.0.1."""
    pytest.importorskip("ray", reason="the ray extra: pip install -e '.[ray]'")
    from ray.cluster_utils import Cluster

    from curation.ray_cluster import loopback_only

    common = {"node_ip_address": LOOPBACK, "num_cpus": 2, "object_store_memory": 100 * 1024 * 1024}
    with pytest.MonkeyPatch.context() as patch, loopback_only():
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        cluster = Cluster(initialize_head=True, shutdown_at_exit=False,
                          head_node_args={**common, "num_cpus": 8, "include_dashboard": False})
        try:
            cluster.add_node(**common, resources={"second_node": 1})
            yield cluster.address
        finally:
            cluster.shutdown()


def pinned(build, step: str, resources: dict):
    """A recipe's build whose `step` asks Ray for `resources` (distilabel's StepResources)."""
    from distilabel.constants import STEP_ATTR_NAME
    from distilabel.steps import StepResources

    def build_pinned(ctx):
        pipeline = build(ctx)
        pipeline.dag.get_step(step)[STEP_ATTR_NAME].resources = StepResources(resources=resources)
        return pipeline

    return build_pinned


# The bundled model at temperature 0 answers a fixed question with the same words every time, and
# the `responses` recipe has no clean-up that could keep nothing: each run here has one outcome.
# (Asked to write a question, as `prompt` does, it answers "I'm ready to assist. What's your
# question?" at temperature 0, which clean-up drops: the last test's run.)
QUESTION = "What is 2 plus 2?"
RESPONSE_STEPS = {"seeds", "respond_0", "group_responses", "flatten_responses"}


def test_recipe_runs_on_a_two_node_cluster_with_a_step_pinned_to_the_second_node(
        ray_cluster, model_server, monkeypatch, tmp_path):
    import pipelines.responses
    from curation.generate import generate_batch
    from curation.options import GenerationOptions

    from curation.ray_cluster import loopback_only

    address = ray_cluster
    monkeypatch.setenv("CURATION_HOME", str(tmp_path))  # its own cache, so every step runs on the cluster
    monkeypatch.setattr(pipelines.responses, "build",
                        pinned(pipelines.responses.build, "respond_0", {"second_node": 1}))
    seeds = tmp_path / "questions.txt"
    seeds.write_text(QUESTION + "\n", encoding="utf-8")
    options = GenerationOptions("responses", seeds=seeds, num_rows=1, max_new_tokens=16, temperature=0.0,
                                backends=("openai:smollm2",), base_url=model_server.base_url, ray=address)
    with loopback_only():  # the driver keeps the loopback address it is given
        batch = generate_batch(options, display="quiet")
    assert_loopback_only()  # the cluster, and the workers left from the run

    [row] = batch.rows()
    assert row["instruction"] == QUESTION and all(g.strip() for g in row["generations"])
    assert row["generation_models"] == ["openai:smollm2", "openai:smollm2"]
    manifest = batch.manifest
    assert manifest["recipe"] == "responses" and manifest["rows"]["kept"] == 1 and manifest["status"] == "complete"
    cluster = manifest["cluster"]
    assert cluster["address"] == address and cluster["ray_version"]
    assert len(cluster["nodes"]) == 2 and {n["address"] for n in cluster["nodes"]} == {LOOPBACK}
    [second] = [n["node_id"] for n in cluster["nodes"] if n["resources"].get("second_node") == 1]
    # The pinned step ran on the second node; every step of the recipe ran as a Ray actor.
    assert cluster["steps"]["respond_0"] == [second]
    assert RESPONSE_STEPS <= set(cluster["steps"])


def _curate_on_local_ray(*args: str, home: Path, timeout: int = 150) -> subprocess.CompletedProcess:
    """`curate generate ... --ray` as its own process, as leads run it: distilabel 1.5.3 hangs running a
    second RayPipeline in a process that already ran one (the two-node test's, in this one)."""
    env = {**os.environ, "CURATION_HOME": str(home)}
    return subprocess.run([str(Path(sys.executable).parent / "curate"), "generate", *args, "--ray"],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_ray_without_an_address_runs_on_a_local_instance_bound_to_loopback(model_server, tmp_path):
    """`curate generate --ray` alone: a new local Ray instance for the run, on 127.0.0.1 only, gone after it."""
    pytest.importorskip("ray", reason="the ray extra: pip install -e '.[ray]'")
    seeds = tmp_path / "questions.txt"
    seeds.write_text(QUESTION + "\n", encoding="utf-8")
    manifests = []
    for out in (tmp_path / "batch", tmp_path / "again"):  # the second run is served from the first one's cache
        result = _curate_on_local_ray("responses", "--seeds", str(seeds), "-n", "1", "--max-new-tokens", "16",
                                      "--temperature", "0", "--backend", "openai:smollm2",
                                      "--base-url", model_server.base_url, "--out", str(out), home=tmp_path / "home")
        assert result.returncode == 0, result.stdout + result.stderr
        manifests.append(json.loads((out / "manifest.json").read_text()))
    cluster = manifests[0]["cluster"]
    assert cluster["address"] == "local"
    assert [n["address"] for n in cluster["nodes"]] == [LOOPBACK]  # so its servers bound loopback only
    assert RESPONSE_STEPS <= set(cluster["steps"])
    assert manifests[1]["rows"]["kept"] == manifests[0]["rows"]["kept"] == 1
    assert manifests[1]["cluster"]["steps"] == {}  # nothing ran again
    assert not [pid for pid in ray_pids() if pid != os.getpid()]  # the instance stopped with the run


def test_a_global_step_failing_on_ray_ends_the_run_with_one_line(model_server, tmp_path):
    """Clean-up keeping none of the generated questions (a global step raising NoUsableInstructions) on
    Ray: the run ends with the same one-line error as a local run, where it used to wait forever
    (distilabel's RayPipeline drops its actors' results; curation.upstream.distilabel reports them)."""
    pytest.importorskip("ray", reason="the ray extra: pip install -e '.[ray]'")
    result = _curate_on_local_ray("prompt", "-n", "1", "--max-new-tokens", "16", "--temperature", "0",
                                  "--backend", "openai:smollm2", "--base-url", model_server.base_url,
                                  "--out", str(tmp_path / "batch"), home=tmp_path / "home")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Error: recipe 'prompt' produced no usable rows (clean-up kept none of the generated instructions)" \
        in result.stderr
    assert "Unhandled error" not in result.stderr  # reported once, as the run's error, not again by Ray
    assert not (tmp_path / "batch" / "rows.parquet").exists()
    assert not [pid for pid in ray_pids() if pid != os.getpid()]
