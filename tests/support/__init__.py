"""What tests (and bench/) share: test identities, the example, processes, receivers, messages.

The adapter has no default configuration: the tests (and the processes they start, which inherit
the environment) run with the repository's example, named here as a deployment names its own."""

import os

from adapter.config import PROJECT_ROOT

os.environ.setdefault("LUS_CONFIG_DIR", str(PROJECT_ROOT / "examples" / "config"))
os.environ.setdefault("LUS_EXAMPLES_DIR", str(PROJECT_ROOT / "examples" / "bundles"))
