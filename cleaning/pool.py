"""The cleaning workers: a small pool of processes, each cleaning one file at a time under a
memory and a time limit, as Dangerzone and SecureDrop treat every submitted file as hostile.

- Each worker is a fresh interpreter (`python -m cleaning.worker`, started like `spawn`:
  safe in a process with threads and an event loop) that loads the cleaners once and stays
  warm between files; a new one starts in about 0.3 s, in the pool's thread.
- A file whose worker runs out of time is "too_slow": the worker is killed (SIGKILL) and a
  fresh one takes its place. A worker that dies (the memory limit, the kernel's OOM killer,
  a crash in a decoder) makes its file "too_large", and is replaced the same way. Either
  way the file is unsafe like any other (kept for moderators) and the report goes on.
- At most `workers` files are cleaned at once; the rest wait their turn in order, so ten
  hostile files cost one worker's limit, not ten.
- The service waits in a thread of the pool's own, never on the event loop, and never
  decodes the file itself; what a worker answers is checked field by field.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cleaning.result import Cleaned, Unsafe

log = logging.getLogger(__name__)
MAX_RESULT_BYTES = 128 * 1024 * 1024
MAX_HEADER_BYTES = 4096
REASONS = frozenset({"unsupported", "unparseable", "too_large", "too_slow", "encrypted"})
_MIME = re.compile(r"[a-z]+/[a-z0-9.+-]{1,64}")
_EXTENSION = re.compile(r"\.[a-z0-9]{1,5}")


@dataclass(frozen=True, slots=True)
class Limits:
    workers: int = 0
    """0: sized to the machine (`machine_workers`)."""
    memory_mb: int = 512
    """Each worker's address space (`RLIMIT_AS`), its libraries (~180 MB) included."""
    seconds: float = 30.0
    """Per file, from the moment the worker has it."""

    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else machine_workers(self.memory_mb)


def machine_workers(memory_mb: int) -> int:
    """One worker per core beyond the first (the service keeps one), at most four, and no
    more than a quarter of the memory (the container's, if it has a limit) allows."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    memory = _memory_bytes()
    by_memory = memory // (4 * memory_mb * 1024 * 1024) if memory else 4
    return max(1, min(4, cpus - 1, by_memory))


def _memory_bytes() -> int:
    limit = Path("/sys/fs/cgroup/memory.max")
    with contextlib.suppress(OSError, ValueError):
        text = limit.read_text().strip()
        if text.isdecimal():
            return int(text)
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return 0


class _Worker:
    """A fresh interpreter (`python -m cleaning.worker`) that loads the cleaners once and
    then waits for files on a socket. Started with `subprocess` (fork and exec at once:
    safe in a process with threads and an event loop, and the child imports nothing of the
    service, unlike multiprocessing's start methods, which import the caller's __main__)."""

    def __init__(self, limits: Limits) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cleaning.worker", str(theirs.fileno()),
                 str(limits.memory_mb * 1024 * 1024), str(limits.seconds)],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": _python_path()})
        self.conn = Connection(ours.detach())
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def end(self) -> None:
        """Killed at once (SIGKILL: a worker in the middle of a hostile file is not asked)."""
        with contextlib.suppress(ProcessLookupError, OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.conn.close()


def _python_path() -> str:
    """Where `cleaning` is, ahead of whatever the service was given."""
    here = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)


class CleaningPool:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.size = self.limits.worker_count()
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers: dict[int, _Worker] = {}
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="cleaning")
        self._closed = False
        self.busy: set[int] = set()
        """Pids of the workers that have a whole file and are cleaning it (for tests)."""

    # --- what the service calls ---------------------------------------------------------------

    async def clean(self, data: bytes, mime: str | None) -> Cleaned | Unsafe:
        head, body = await self._submit({"job": "clean", "mime": mime}, data)
        return _result(head, body)

    async def thumbnail(self, data: bytes, px: int) -> tuple[bytes, int, int] | None:
        """A JPEG at most `px` on its longer side, with its size; None when there is none."""
        head, body = await self._submit({"job": "thumbnail", "px": px}, data)
        width, height = head.get("width"), head.get("height")
        if head.get("kind") != "thumbnail" or not isinstance(width, int) or not isinstance(height, int) \
                or not body.startswith(b"\xff\xd8"):
            return None
        return body, width, height

    def start(self) -> None:
        """Start every worker now (blocking: call it in a thread), so the first file finds
        them warm."""
        while True:
            with self._lock:
                if self._closed or len(self._workers) >= self.size:
                    return
                worker = self._spawn()
            self._idle.put(worker)

    def worker_pids(self) -> set[int]:
        with self._lock:
            return set(self._workers)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._workers.values())
            self._workers.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.end()

    # --- in the pool's threads ------------------------------------------------------------------

    async def _submit(self, job: dict[str, Any], data: bytes) -> tuple[dict[str, Any], bytes]:
        if self._closed:
            raise RuntimeError("the cleaning pool is closed")
        return await asyncio.wrap_future(self._threads.submit(self._run, job, data))

    def _spawn(self) -> _Worker:
        """Called with the lock held."""
        worker = _Worker(self.limits)
        self._workers[worker.pid] = worker
        return worker

    def _take(self) -> _Worker:
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                with self._lock:
                    if self._closed:
                        raise RuntimeError("the cleaning pool is closed") from None
                    if len(self._workers) < self.size:
                        return self._spawn()
                try:  # one is being started or replaced
                    worker = self._idle.get(timeout=0.5)
                except queue.Empty:
                    continue
            if worker.alive():
                return worker
            self._retire(worker)

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.pop(worker.pid, None)
        worker.end()

    def _replace(self, worker: _Worker) -> None:
        """A fresh worker in place of this one, warm for the next file."""
        self._retire(worker)
        with self._lock:
            if self._closed:
                return
            fresh = self._spawn()
        self._idle.put(fresh)

    def _run(self, job: dict[str, Any], data: bytes) -> tuple[dict[str, Any], bytes]:
        worker = self._take()
        deadline = time.monotonic() + self.limits.seconds
        try:
            worker.conn.send_bytes(json.dumps(job).encode())
            worker.conn.send_bytes(data)
            self.busy.add(worker.pid)
            head = json.loads(self._receive(worker, deadline, MAX_HEADER_BYTES))
            body = self._receive(worker, deadline, MAX_RESULT_BYTES)
        except TimeoutError:
            log.warning("a file took longer than %.0f s to clean: its worker was stopped", self.limits.seconds)
            self._replace(worker)
            return {"kind": "unsafe", "reason": "too_slow"}, b""
        except (EOFError, OSError, ValueError):  # the worker died (memory, OOM killer, a crash) or talked nonsense
            log.warning("a cleaning worker died on a file (exit %s); it was replaced", worker.process.poll())
            self._replace(worker)
            return {"kind": "unsafe", "reason": "too_large"}, b""
        finally:
            self.busy.discard(worker.pid)
        if not isinstance(head, dict):
            self._replace(worker)
            return {"kind": "unsafe", "reason": "unparseable"}, b""
        if head.get("recycle"):
            self._replace(worker)
        else:
            self._idle.put(worker)
        return head, body

    @staticmethod
    def _receive(worker: _Worker, deadline: float, limit: int) -> bytes:
        if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
            raise TimeoutError
        return worker.conn.recv_bytes(limit)


def _result(head: dict[str, Any], body: bytes) -> Cleaned | Unsafe:
    """A worker's answer, believed only as far as it has the expected shape."""
    if head.get("kind") == "unsafe":
        reason = head.get("reason")
        return Unsafe(reason if isinstance(reason, str) and reason in REASONS else "unparseable")
    mime, extension = head.get("mime"), head.get("extension")
    width, height, duration = head.get("width"), head.get("height"), head.get("duration")
    if (head.get("kind") == "cleaned" and body and isinstance(mime, str) and _MIME.fullmatch(mime)
            and isinstance(extension, str) and _EXTENSION.fullmatch(extension)
            and all(v is None or (isinstance(v, int) and 0 < v < 1_000_000) for v in (width, height))
            and (duration is None or (isinstance(duration, int | float) and 0 <= duration < 1e7))):
        return Cleaned(body, mime, extension, width, height, None if duration is None else float(duration))
    return Unsafe("unparseable")


_shared: CleaningPool | None = None
_shared_lock = threading.Lock()


def configure(limits: Limits) -> CleaningPool:
    """The process's pool with these limits (a running one with others is replaced)."""
    global _shared
    with _shared_lock:
        old = _shared
        if old is not None and old.limits == limits:
            return old
        _shared = CleaningPool(limits)
    if old is not None:
        old.close()
    return _shared


def shared() -> CleaningPool:
    """The process's pool, made with the default limits on first use (the console, a test,
    a shell command); the service configures it at start from its settings."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = CleaningPool()
        return _shared


@atexit.register
def _close_shared() -> None:
    if _shared is not None:
        _shared.close()
