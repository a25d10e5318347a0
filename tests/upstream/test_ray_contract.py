"""The private names of Ray 2.60.0 that `curate generate --ray` uses (curation/upstream/ray.py), each with the shape
relied on, and the shim refusing another Ray in one line. Ray is an optional extra; the test environment installs
it. Each test skips without it, at run time, so that under CI=true the skip fails the run (tests/fixtures/ci.py).
The real runs are in tests/generation/test_ray.py.
"""

import inspect

import pytest

from tests.upstream.fake_version import assert_refused_in_one_line, import_with_version


@pytest.fixture
def upstream():
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")
    import curation.upstream.ray

    return curation.upstream.ray


def test_single_machine_mode_is_a_flag_read_at_each_node_start(upstream):
    from ray._private import services

    assert isinstance(upstream.ray_constants.ENABLE_RAY_CLUSTER, bool)
    # Read through the module at call time, so curation.ray_cluster.loopback_only can switch it for one start.
    source = inspect.getsource(services.get_node_ip_address)
    assert "if not ray_constants.ENABLE_RAY_CLUSTER:" in source and "get_localhost_ip()" in source


def test_the_actor_table_is_read_without_the_dashboard(upstream):
    assert list(inspect.signature(upstream.state.actors).parameters) == ["actor_id", "job_id", "actor_state_name"]
    # The fields curation.ray_cluster.step_nodes reads from each actor.
    source = inspect.getsource(upstream.state.GlobalState._gen_actor_info)
    assert all(f'"{key}":' in source for key in ("Name", "JobID", "Address", "NodeID"))


def test_another_ray_is_refused_in_one_line(upstream, tmp_path):
    result = import_with_version(tmp_path, "curation.upstream.ray", "ray", "9.9.9")
    assert_refused_in_one_line(result, "ray", "9.9.9", "2.60.0")


def test_the_installed_ray_is_accepted(upstream):
    assert upstream.VERSION == "2.60.0"
