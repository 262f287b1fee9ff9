"""Link cleaning cost (issue 27): what a step pays to clean the links of a message (pure
rules, on the event loop), what loading the rules costs once, a hostile 2 KB link, and how
long following a share link takes against the fake platform on 127.0.0.2 (one HEAD; and a
platform that refuses HEAD and answers GET with a body that never ends, which must not be read).

Usage: python bench/links.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cleaning import links
from cleaning.short_links import LinkResolver
from tests.fake_platform import FakePlatform
from tests.test_links import SHARED

MESSAGE = ("Kepala sekolah membagikan ajakan di https://www.instagram.com/p/C9xYz12AbCd/?igsh=MWQ1ZGUxMzBkMA== "
           "dan https://youtu.be/dQw4w9WgXcQ?si=AbCdEfGhIjKlMnOp, juga di grup Facebook "
           "https://www.facebook.com/groups/guru/posts/741/?mibextid=rS40aB7S9Ucbxw6v serta TikTok "
           "https://www.tiktok.com/@camat/video/7312?_r=1&_t=8iAb&is_from_webapp=1.")


def timed(work: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        work()  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    print(f"{name:<52} median {statistics.median(ms):7.3f} ms   p99 {ms[int(len(ms) * 0.99) - 1]:7.3f} ms")


async def following() -> None:
    fake = FakePlatform()
    await fake.start()
    try:
        fake.short("vm.tiktok.com", "/ZMbench/", "https://www.tiktok.com/@camat/video/7312?_r=1&_t=8iAb")
        fake.short("fb.me", "/e/bench", "https://www.facebook.com/permalink.php?story_fbid=1&id=2&rdid=x",
                   head=False, endless_body=True)
        resolver = LinkResolver(fake.rules())
        for name, url in (("follow vm.tiktok.com (one HEAD)", "https://vm.tiktok.com/ZMbench/"),
                          ("follow fb.me (HEAD 405, GET body never read)", "https://fb.me/e/bench")):
            times = []
            for _ in range(50):
                start = time.perf_counter()
                assert await resolver.resolve(url)
                times.append((time.perf_counter() - start) * 1000)
            report(name, times)
        print(f"{'body bytes the endless GET got out before we closed':<52} {fake.body_bytes_sent:,}")
        await resolver.close()
    finally:
        await fake.stop()


def main() -> None:
    start = time.perf_counter()
    links.warm()
    print(f"{'loading the rules (once per process)':<52} {(time.perf_counter() - start) * 1000:7.1f} ms")
    report("clean the 30 share links of the test table, all", timed(lambda: [links.clean(s) for s, _ in SHARED], 100))
    report("clean_text of a message with 4 share links", timed(lambda: links.clean_text(MESSAGE), 500))
    report("find in a 4,000-character text without links", timed(lambda: links.find("kata " * 800), 500))
    hostile = "https://www.instagram.com/" + "a." * 1000
    report("clean a hostile 2 KB link", timed(lambda: links.clean(hostile), 50))
    asyncio.run(following())


if __name__ == "__main__":
    main()
