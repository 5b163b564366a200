"""The import rules of the design, as import-linter contracts (pyproject.toml), checked here.

The wrapper never imports the server, the trainer or heavy libraries; the server is layered along
the data flow (cli → runner → api → service → config → judging | models → storage → schemas);
HTTP stays in api and runner; litellm is reached through one module; no sibling modules import
each other in a cycle.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=where, capture_output=True, text=True, timeout=300,
                          check=False)


def test_the_code_keeps_every_import_contract():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_a_forbidden_import_breaks_the_check(tmp_path):
    for package in ("oni_wrappers", "reward_server", "oni_rl", "tests", "benchmarks"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "reward_server" / "models" / "retrieval.py").open("a") as source:
        source.write("\nfrom reward_server.api import app  # a model reaching for the HTTP layer\n")
    with (tmp_path / "tests" / "helpers.py").open("a") as source:
        source.write("\nfrom benchmarks import learning_evidence  # a test leaning on a benchmark\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "reward_server.models is not allowed to import reward_server.api" in done.stdout
    assert "tests is not allowed to import benchmarks" in done.stdout
