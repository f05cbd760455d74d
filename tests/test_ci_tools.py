"""In CI, the external tools the tests drive must really be there.

Tests that need jing, newsboat, sfeed or systemd-analyze skip where they are
missing, so a developer without them can still run the suite; in CI
(``CI=true``) a missing tool would turn those tests into silent skips, so it
fails here instead.
"""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.mark.parametrize("tool", ["jing", "newsboat", "sfeed", "systemd-analyze"])
def test_ci_installs_the_tools_tests_depend_on(tool):
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip("only enforced in CI (.ci/run installs them)")
    assert shutil.which(tool), f"{tool} is missing: .ci/run must apt-get install it"
