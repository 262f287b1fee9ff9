"""The PostgreSQL half of the suite without PostgreSQL: skipped with one loud line on a
developer's machine, a failure in CI (CI=true), never a silent skip there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the test suite run as a process

ROOT = Path(__file__).resolve().parent.parent


def run_suite(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PG_CTL"] = "/nonexistent/pg_ctl"
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_durability.py::test_the_same_update_twice_changes_nothing_the_second_time"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_without_postgresql_the_half_is_skipped_and_says_so() -> None:
    result = run_suite(ci=False)
    assert result.returncode == 0, result.stdout
    assert "PostgreSQL server binaries not found" in result.stdout and "SKIPPED" in result.stdout
    assert "1 passed, 1 skipped" in result.stdout


def test_in_ci_a_missing_postgresql_fails_the_run() -> None:
    result = run_suite(ci=True)
    assert result.returncode != 0
    assert "CI=true but PostgreSQL's server binaries are missing" in result.stdout + result.stderr
