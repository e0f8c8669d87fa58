import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_code_passes_the_linter():
    """The ruff configuration in pyproject.toml holds for the whole tree."""
    pytest.importorskip("ruff")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", ROOT],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


def test_license_file_matches_the_declared_license():
    with open(os.path.join(ROOT, "LICENSE")) as f:
        text = f.read()
    with open(os.path.join(ROOT, "setup.cfg")) as f:
        config = f.read()
    assert "license = Apache-2.0" in config
    assert "Apache License" in text and "Version 2.0" in text
