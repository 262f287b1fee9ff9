"""One cleaning worker: a process that cleans the files the service hands it, one at a time,
under limits it sets on itself before the first file (`serve`).

- Its address space is capped (`RLIMIT_AS`, `CLEANING_MEMORY_MB`): a decoder that wants more
  gets a MemoryError, which is "too_large".
- It makes no core dump (a crash must not write a reporter's file to disk).
- It is the first process the kernel's OOM killer picks.

The service kills it when a file takes longer than the time limit, and starts another.
What goes over the pipe is bytes and JSON, never pickles: the service does not trust what a
worker that has read a hostile file sends back (`cleaning.pool` checks every field).
"""

from __future__ import annotations

import contextlib
import json
import resource
import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 4096
RECYCLE_AFTER = 500
"""Jobs after which a worker asks to be replaced (its heap only grows)."""
PDF_SHARE = 0.8
"""Of the time limit, what the PDF walk may use before it stops by itself ("too_slow")."""


def preload() -> None:
    """Loaded before the first file, so a worker is warm when one comes."""
    import importlib

    for module in ("cleaning.images", "cleaning.media", "cleaning.pdf", "cleaning.thumbnail"):
        importlib.import_module(module)


def serve(conn: Connection, memory_bytes: int, seconds: float) -> None:
    """Clean what comes until the service closes the pipe."""
    _confine(memory_bytes)
    jobs = 0
    while True:
        try:
            job = json.loads(conn.recv_bytes(MAX_HEADER_BYTES))
            data = conn.recv_bytes(MAX_REQUEST_BYTES)
        except (EOFError, OSError, ValueError):
            return
        jobs += 1
        head, body = _work(job, data, seconds)
        if jobs >= RECYCLE_AFTER:
            head["recycle"] = True
        try:
            conn.send_bytes(json.dumps(head).encode())
            conn.send_bytes(body)
        except OSError:
            return
        if head.get("recycle"):
            return


def main(argv: list[str]) -> None:
    """`python -m cleaning.worker FD MEMORY_BYTES SECONDS`: FD is this end of the socket."""
    fd, memory_bytes, seconds = int(argv[0]), int(argv[1]), float(argv[2])
    preload()
    serve(Connection(fd), memory_bytes, seconds)


def _confine(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as adj:
        adj.write("1000")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the service decides


def _work(job: dict[str, Any], data: bytes, seconds: float) -> tuple[dict[str, Any], bytes]:
    from cleaning import Cleaned, clean
    from cleaning.thumbnail import thumbnail

    try:
        if job.get("job") == "thumbnail":
            made = thumbnail(data, int(job.get("px") or 480))
            if made is None:
                return {"kind": "none"}, b""
            return {"kind": "thumbnail", "width": made[1], "height": made[2]}, made[0]
        result = clean(data, job.get("mime"), deadline=time.monotonic() + seconds * PDF_SHARE)
        if isinstance(result, Cleaned):
            return {"kind": "cleaned", "mime": result.mime, "extension": result.extension,
                    "width": result.width, "height": result.height, "duration": result.duration}, result.data
        return {"kind": "unsafe", "reason": result.reason}, b""
    except MemoryError:
        return {"kind": "unsafe", "reason": "too_large", "recycle": True}, b""
    except Exception:  # noqa: BLE001 - a cleaner's own bug is one file's problem, not the worker's
        return {"kind": "unsafe", "reason": "unparseable", "recycle": True}, b""


if __name__ == "__main__":
    main(sys.argv[1:])
