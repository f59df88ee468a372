"""The optional envs (BabyAI-Text on minigrid, Crafter-Text on crafter): importing autotelic never needs their
package, and making one without it says in one line what to install."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package, env_const, env_id", [
    ("minigrid", "BABYAI_ID", "autotelic/BabyAIText-v0"),
    ("crafter", "CRAFTER_ID", "autotelic/CrafterText-v0"),
])
def test_importing_autotelic_without_the_package_works_and_making_the_env_names_the_fix(package, env_const, env_id):
    code = (f"import sys; sys.modules[{package!r}] = None\n"
            "import gymnasium as gym, autotelic\n"
            f"from autotelic.envs import {env_const}\n"
            f"try:\n    gym.make({env_const})\nexcept ImportError as e:\n    print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"ERR {env_id} needs the {package} package: pip install {package}" in out.stdout
