"""Issue 27: share links whose path is the identifier are followed to the post, only through
the platforms' hosts and only to public addresses (a fake platform on 127.0.0.2, the only
address the tests allow)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from cleaning.short_links import LinkResolver
from tests.fake_platform import FakePlatform

POST = "https://www.tiktok.com/@camat.contoh/video/7312345678901234567"
SHARED_POST = POST + "?_r=1&_t=8iAbCdEfGh&u_code=df0k1m2n&sec_user_id=MS4wLjABAAAA&share_app_id=1233"


@pytest.fixture
async def platform() -> AsyncIterator[FakePlatform]:
    fake = FakePlatform()
    await fake.start()
    yield fake
    await fake.stop()


async def _resolve(platform: FakePlatform, url: str, **mapping: str) -> str | None:
    resolver = LinkResolver(platform.rules(**mapping))
    try:
        return await resolver.resolve(url)
    finally:
        await resolver.close()


async def test_a_redirect_inside_the_allowlist_is_followed_and_the_target_cleaned(platform: FakePlatform) -> None:
    short = platform.short("vm.tiktok.com", "/ZMhAbCdEf/", SHARED_POST)
    assert await _resolve(platform, short + "?_r=1") == POST
    assert [(m, h, p) for m, h, p, _ in platform.requests] == [("HEAD", "vm.tiktok.com", "/ZMhAbCdEf/")], \
        "one HEAD to the short link; the post's own page is never requested"
    assert "Cookie" not in platform.requests[0][3] and "Referer" not in platform.requests[0][3]


async def test_two_short_hops_without_cookies_and_a_get_whose_body_is_not_read(platform: FakePlatform) -> None:
    """Facebook answers HEAD with 405; its GET would send a body without end."""
    platform.short("fb.me", "/e/AbCdEf", "https://www.facebook.com/share/p/1AbCdEfGh/", head=False, endless_body=True)
    platform.short("www.facebook.com", "/share/p/1AbCdEfGh/",
                   "https://www.facebook.com/permalink.php?story_fbid=pfbid0xyZ&id=100098765432101&rdid=AbC"
                   "&share_url=https%3A%2F%2Fwww.facebook.com%2Fshare%2Fp%2F1AbCdEfGh%2F", head=False)
    started = time.monotonic()
    assert await _resolve(platform, "https://fb.me/e/AbCdEf") == \
        "https://www.facebook.com/permalink.php?story_fbid=pfbid0xyZ&id=100098765432101"
    assert time.monotonic() - started < 2.5
    assert [m for m, *_ in platform.requests] == ["HEAD", "GET", "HEAD", "GET"]
    assert all("Cookie" not in headers for *_, headers in platform.requests), "the Set-Cookie was not kept"
    assert platform.body_bytes_sent < 5 * 1024 * 1024, "the endless body was not read"


async def test_a_redirect_to_127_0_0_1_is_refused(platform: FakePlatform) -> None:
    literal = platform.short("vm.tiktok.com", "/ZMliteral/", f"https://127.0.0.1:{platform.port}/x")
    assert await _resolve(platform, literal) is None
    by_name = platform.short("vm.tiktok.com", "/ZMbyname/", "https://www.tiktok.com/t/ZTnext/")
    platform.short("www.tiktok.com", "/t/ZTnext/", POST)
    assert await _resolve(platform, by_name, www_tiktok_com="127.0.0.1") is None
    assert platform.loopback_requests == [], "nothing reached 127.0.0.1"
    assert await _resolve(platform, by_name) == POST, "the same chain on an allowed address resolves"


async def test_a_redirect_to_a_private_address_is_refused_before_connecting(platform: FakePlatform) -> None:
    literal = platform.short("vm.tiktok.com", "/ZMprivate/", "https://10.20.30.40/x")
    assert await _resolve(platform, literal) is None
    by_name = platform.short("vm.tiktok.com", "/ZMprivname/", "https://www.tiktok.com/t/ZTpriv/")
    started = time.monotonic()
    assert await _resolve(platform, by_name, www_tiktok_com="10.20.30.40") is None
    assert time.monotonic() - started < 1.0, "refused at once, not after a connection attempt timed out"
    for address in ("192.168.1.5", "169.254.169.254", "::1", "fd00::1", "::ffff:10.0.0.1"):
        assert await _resolve(platform, by_name, www_tiktok_com=address) is None, address


async def test_a_redirect_to_a_host_outside_the_allowlist_is_refused(platform: FakePlatform) -> None:
    short = platform.short("t.co", "/AbCdEf1234", "https://berita.contoh.id/asn-kampanye?utm_source=twitter")
    assert await _resolve(platform, short) is None
    assert not any(host == "berita.contoh.id" for _, host, *_ in platform.requests)


async def test_a_short_link_that_leads_nowhere_is_not_resolved(platform: FakePlatform) -> None:
    assert await _resolve(platform, "https://vm.tiktok.com/ZMunknown/") is None  # 404
    stays = platform.short("vt.tiktok.com", "/ZSpage/", None, status=200)
    assert await _resolve(platform, stays) is None
    wall = platform.short("www.facebook.com", "/share/v/1XyZ/",
                          "https://www.facebook.com/login/?next=https%3A%2F%2Fwww.facebook.com%2Fshare%2Fv%2F1XyZ%2F")
    assert await _resolve(platform, wall) is None, "a login wall is no destination"
    loop = platform.short("vm.tiktok.com", "/ZMloop/", "https://vm.tiktok.com/ZMloop/")
    assert await _resolve(platform, loop) is None


async def test_text_keeps_what_cannot_be_resolved_as_a_cleaned_short_link(platform: FakePlatform) -> None:
    platform.short("vm.tiktok.com", "/ZMhAbCdEf/", SHARED_POST)
    resolver = LinkResolver(platform.rules())
    try:
        text = ("Video: https://vm.tiktok.com/ZMhAbCdEf/?_r=1 dan https://vm.tiktok.com/ZMgone/?_r=1&_t=x, "
                "juga https://youtu.be/dQw4w9WgXcQ?si=AbC")
        assert await resolver.resolve_text(text) == (
            f"Video: {POST} dan https://vm.tiktok.com/ZMgone/, juga https://youtu.be/dQw4w9WgXcQ")
    finally:
        await resolver.close()
