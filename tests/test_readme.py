"""Every shell command the README shows runs as written after the set-up command: each line
of its ```sh blocks and each inline `.venv/bin/python -m bot ...`, in a fresh folder, in the
order the README gives them. `.venv/bin/python` is the Python running this test (the one the
set-up command installed into); the set-up and test-suite commands themselves are checked
against .ci/run instead of being run again."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def shell_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]
    inline = re.findall(r"`(\.venv/bin/python -m bot[^`]*)`", text)
    return lines + [command for command in inline if command not in lines]


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_", "EVIDENCE_", "PUBLIC_"))}
    env["HOME"] = str(folder)
    return env


def test_the_readme_shows_commands() -> None:
    commands = shell_commands()
    assert any(c.endswith("-m bot cases") for c in commands)
    assert any("routes import" in c for c in commands) and any("export" in c for c in commands)


def test_the_set_up_and_test_commands_are_what_ci_runs() -> None:
    commands = shell_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    suite = next(c for c in commands if c.startswith("python3 -m venv .venv") and " -m pytest" in c)
    assert suite in ci, "set-up (b) is exactly what .ci/run runs"
    assert "-m pytest -m" not in suite, "CI runs every test, the slow ones too"
    assert any(c.startswith("python3 -m venv .venv") and c.endswith(".venv/bin/python -m bot") for c in commands)
    assert any(c.startswith(".venv/bin/python -m pytest") and '-m "not slow"' in c for c in commands), \
        "the README gives the fast loop too"


@pytest.mark.slow  # the README's commands, run
@pytest.mark.timeout(300)  # some 25 commands, one of them rotate-key, which waits SETTLE_SECONDS (~32 s) by design
def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "routes.csv").write_text("region,chat_id,agency,title\n51.03,-100201,,Fokus Badung\n",
                                         encoding="utf-8")
    env = _env(tmp_path)
    ran = []
    for command in shell_commands():
        if "pip install" in command or " -m pytest" in command:
            continue  # the set-up and the test suite (this is one of its tests), checked against .ci/run above
        if "locales/update.sh" in command:
            _update_catalogs_in_a_copy(tmp_path / "copy", command)
            ran.append(command)
            continue
        argv = shlex.split(command)
        assert argv[:3] == [".venv/bin/python", "-m", "bot"], f"a README command this test does not know: {command}"
        argv[0] = sys.executable
        stdin = None
        if argv[3:] in ([], ["console"]):
            stdin = "halo\n/keluar\n"  # the console: say hello, then quit
        elif argv[3] in ("run", "serve", "check"):
            argv.append("--help")  # they need Telegram or Twilio credentials: the command line is checked
        result = subprocess.run(argv, cwd=tmp_path, env=env, input=stdin, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        ran.append(command)
    assert len(ran) >= 10, ran
    assert list((tmp_path / "exports").glob("kasus-*.csv")), "the export example wrote its file"


def _update_catalogs_in_a_copy(copy: Path, command: str) -> None:
    """locales/update.sh rewrites the catalogs: it runs on a copy of the sources, and must
    leave the catalogs as they are (they are up to date)."""
    for name in ("bot", "flows", "storage", "locales"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    before = {p: p.read_text(encoding="utf-8") for p in (copy / "locales").rglob("*.po")}
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    script = command.replace("PATH=.venv/bin:$PATH ", "")
    result = subprocess.run(["sh", "-c", script], cwd=copy, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for path, text in before.items():
        after = path.read_text(encoding="utf-8")
        strip = re.compile(r'^"(POT-Creation-Date|Generated-By): .*\n', re.MULTILINE)
        assert strip.sub("", after) == strip.sub("", text), f"{path.name} was not up to date"


def test_no_command_needs_a_bare_python() -> None:
    """`python -m bot cases` fails where `python` is not the venv's: the README says `.venv/bin/python`."""
    text = README.read_text(encoding="utf-8")
    assert re.findall(r"(?<![/\w])python -m bot", text) == []
