"""Drives the real console (`python -m bot console`) through pipes, one line at a time: it
writes a line, then reads the screen until the console prints its next "> " prompt, so a
session can be compared with a golden transcript input by input."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

PROMPT = "> "


def console_env(tmp_path: Path, storage: dict[str, str] | None = None) -> dict[str, str]:
    """`storage`: a test backend's variables (tests.backends.Backend.env), else a SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    env.update(DATABASE_PATH=str(tmp_path / "data" / "lapor.db"), EVIDENCE_DIR=str(tmp_path / "data" / "evidence"),
               PYTHONUNBUFFERED="1")
    env.update(storage or {})
    return env


class ConsoleSession:
    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "console"], cwd=cwd, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.pending = b""
        self.stderr = b""

    def _read(self, until_prompt: bool, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while True:
            text = self.pending.decode("utf-8", errors="replace")
            if until_prompt and text.endswith(PROMPT):
                self.pending = b""
                return text[: -len(PROMPT)]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the console did not answer in {timeout}s; screen so far: {text!r}")
            if not self.selector.select(left):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:  # the console exited
                self.pending = b""
                if until_prompt:
                    raise AssertionError(f"the console exited; screen: {text!r}; stderr: {self._stderr()!r}")
                return text
            self.pending += chunk

    def _stderr(self) -> str:
        assert self.proc.stderr is not None
        if self.proc.poll() is not None:
            self.stderr += self.proc.stderr.read()
        return self.stderr.decode("utf-8", errors="replace")

    def start(self, timeout: float = 60) -> str:
        return self._read(True, timeout)

    def send(self, line: str, timeout: float = 60) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        self.proc.stdin.flush()
        return self._read(True, timeout)

    def eof(self, timeout: float = 60) -> tuple[str, int]:
        """Ctrl-D: standard input ends."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self._finish(timeout)

    def interrupt(self, timeout: float = 60) -> tuple[str, int]:
        """Ctrl-C while the console waits for a line."""
        self.proc.send_signal(signal.SIGINT)
        return self._finish(timeout)

    def _finish(self, timeout: float) -> tuple[str, int]:
        rest = self._read(False, timeout)
        code = self.proc.wait(timeout)
        return rest, code

    def stderr_text(self) -> str:
        return self._stderr()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
