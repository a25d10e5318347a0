"""`--ray ADDRESS`: a recipe as distilabel's RayPipeline on a real two-node Ray cluster on loopback.

The cluster is `ray start --head` plus a second `ray start --address` node carrying a custom
resource (`second_node`), both from this venv, with Ray's session files in a temp folder and
its auth token in a temp HOME (ray 2.60 turns token authentication on; the driver reads the
token from the same HOME). Addresses: ray 2.60 rewrites 127.0.0.1 to the machine's interface
address in multi-node mode, so the nodes and the driver use 127.0.0.2, another loopback
address it keeps as given; nothing in the test goes through a non-loopback address.
`ray stop` after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.fixtures.model import free_port

# Ray 2.60's multi-node gRPC servers listen on every interface whatever address they are given
# (seen here with 127.0.0.2): the project's rule is that test servers bind loopback only, so the
# two-node test runs only where that is acceptable, opted in with CURATION_TEST_RAY=1.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("CURATION_TEST_RAY") != "1",
                       reason="Ray's gRPC servers bind all interfaces; opt in with CURATION_TEST_RAY=1"),
]

LOOPBACK = "127.0.0.2"


@pytest.fixture(scope="module")
def ray_cluster():
    """(address, env) of a head and a second node with the custom resource `second_node`."""
    pytest.importorskip("ray", reason="the ray extra: pip install -e '.[ray]'")
    ray_bin = Path(sys.executable).parent / "ray"  # this venv's, so the nodes import this package
    # Ray's unix sockets live under the temp dir: keep its path short.
    root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    home = root / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0"}
    port = free_port()
    address = f"{LOOPBACK}:{port}"
    common = ["--node-ip-address", LOOPBACK, "--object-store-memory", str(100 * 1024 * 1024)]
    try:
        subprocess.run([str(ray_bin), "start", "--head", "--port", str(port), "--temp-dir", str(root / "t"),
                        "--num-cpus", "8", "--include-dashboard", "false", "--disable-usage-stats", *common],
                       env=env, check=True, capture_output=True, timeout=180)
        subprocess.run([str(ray_bin), "start", "--address", address, "--num-cpus", "2",
                        "--resources", json.dumps({"second_node": 1}), *common],
                       env=env, check=True, capture_output=True, timeout=180)
        yield address, env
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], env=env, capture_output=True, timeout=120)


def pinned(build, step: str, resources: dict):
    """A recipe's build whose `step` asks Ray for `resources` (distilabel's StepResources)."""
    from distilabel.constants import STEP_ATTR_NAME
    from distilabel.steps import StepResources

    def build_pinned(ctx):
        pipeline = build(ctx)
        pipeline.dag.get_step(step)[STEP_ATTR_NAME].resources = StepResources(resources=resources)
        return pipeline

    return build_pinned


def test_recipe_runs_on_a_two_node_cluster_with_a_step_pinned_to_the_second_node(
        ray_cluster, model_server, curation_home, monkeypatch):
    import pipelines.prompt
    from curation.generate import generate_batch
    from curation.options import GenerationOptions

    address, env = ray_cluster
    monkeypatch.setenv("HOME", env["HOME"])  # the driver finds the cluster's auth token there
    monkeypatch.setattr(pipelines.prompt, "build", pinned(pipelines.prompt.build, "respond", {"second_node": 1}))
    options = GenerationOptions("prompt", num_rows=1, max_new_tokens=16, backends=("openai:smollm2",),
                                base_url=model_server.base_url, ray=address)
    batch = generate_batch(options, display="quiet")

    [row] = batch.rows()
    assert row["instruction"].strip() and row["response"].strip() and row["model_name"] == "openai:smollm2"
    manifest = batch.manifest
    assert manifest["recipe"] == "prompt" and manifest["rows"]["kept"] == 1 and manifest["status"] == "complete"
    cluster = manifest["cluster"]
    assert cluster["address"] == address and cluster["ray_version"]
    assert len(cluster["nodes"]) == 2 and {n["address"] for n in cluster["nodes"]} == {LOOPBACK}
    [second] = [n["node_id"] for n in cluster["nodes"] if n["resources"].get("second_node") == 1]
    # The pinned step ran on the second node; every step of the recipe ran as a Ray actor.
    assert cluster["steps"]["respond"] == [second]
    assert {"topics", "ask", "clean_instructions", "respond", "drop_empty_responses"} <= set(cluster["steps"])
