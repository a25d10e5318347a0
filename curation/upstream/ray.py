"""Ray 2.60.0: the private modules `curate generate --ray` reads (ray is an optional extra).

Imported only where Ray is used (curation/ray_cluster.py); importing it imports ray, raising
ImportError without it, and checks the installed version. What is borrowed (each checked by
tests/upstream/test_ray_contract.py):

- `ray._private.ray_constants.ENABLE_RAY_CLUSTER`, read at each node start: False starts a local
  instance in Ray's single-machine mode, whose servers bind 127.0.0.1;
- `ray._private.state.actors()`, the GCS actor table (finished actors included, each with `Name`,
  `JobID`, `Address.NodeID`), readable without the dashboard that Ray's public state API needs.
"""

from __future__ import annotations

import ray  # noqa: F401  (ImportError here: Ray is not installed, which callers report)

from curation.upstream import require

VERSION = require("ray", "2.60.0")

# Imported after the version check, so another Ray fails on the line above, not on whichever of
# these it moved.
from ray._private import ray_constants, state

__all__ = ["VERSION", "ray_constants", "state"]
