"""Issue 27: links as reporters paste them from the six platforms' Share buttons, cleaned into
the addresses an officer needs, with nothing of the person who pressed Share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cleaning import links

SHARED = [
    # Instagram: igsh (igshid before 2023) names the sharer; utm_source is the app's.
    ("https://www.instagram.com/p/C9xYz12AbCd/?igsh=MWQ1ZGUxMzBkMA==",
     "https://www.instagram.com/p/C9xYz12AbCd/"),
    ("https://www.instagram.com/reel/C8aBcDeFgHi/?igshid=NTc4MTIwNjQ2YQ==",
     "https://www.instagram.com/reel/C8aBcDeFgHi/"),
    ("https://www.instagram.com/p/C9xYz12AbCd/?utm_source=ig_web_copy_link&igsh=MzRlODBiNWFlZA==",
     "https://www.instagram.com/p/C9xYz12AbCd/"),
    ("https://instagram.com/stories/bupati.contoh/3456789012345678901?utm_source=ig_story_item_share&igsh=abc",
     "https://instagram.com/stories/bupati.contoh/3456789012345678901"),
    ("https://www.instagram.com/p/C9xYz12AbCd/?img_index=2&igsh=MWQ1ZGUxMzBkMA==",
     "https://www.instagram.com/p/C9xYz12AbCd/?img_index=2"),
    # YouTube: si is the share id; pp and feature are the app's; v, list and t name the content.
    ("https://youtu.be/dQw4w9WgXcQ?si=AbCdEfGhIjKlMnOp", "https://youtu.be/dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ?si=AbCdEfGhIjKlMnOp&t=42", "https://youtu.be/dQw4w9WgXcQ?t=42"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&pp=ygUEdGVzdA%3D%3D&feature=shared",
     "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG&index=3&si=xYz",
     "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG&index=3"),
    ("https://youtube.com/shorts/aBcDeFgHiJk?si=Qw3rTy-UiOp12345", "https://youtube.com/shorts/aBcDeFgHiJk"),
    ("https://m.youtube.com/watch?v=dQw4w9WgXcQ&feature=youtu.be", "https://m.youtube.com/watch?v=dQw4w9WgXcQ"),
    # X / Twitter: s and t are the share source and the sharer's token.
    ("https://x.com/pemkab_contoh/status/1857012345678901234?s=46&t=AbCdEfGhIjKlMnOpQrStUv",
     "https://x.com/pemkab_contoh/status/1857012345678901234"),
    ("https://twitter.com/pemkab_contoh/status/1857012345678901234?s=20",
     "https://twitter.com/pemkab_contoh/status/1857012345678901234"),
    ("https://x.com/pemkab_contoh/status/1857012345678901234/photo/1?ref_src=twsrc%5Etfw",
     "https://x.com/pemkab_contoh/status/1857012345678901234/photo/1"),
    # Facebook: mibextid, rdid and share_url come with the share sheet; story_fbid+id, v, fbid+set name the post.
    ("https://www.facebook.com/story.php?story_fbid=pfbid02AbC&id=100012345678901&mibextid=Nif5oz",
     "https://www.facebook.com/story.php?story_fbid=pfbid02AbC&id=100012345678901"),
    (("https://www.facebook.com/permalink.php?story_fbid=pfbid0xyZ&id=100098765432101&rdid=AbCdEf123&share_url="
      "https%3A%2F%2Fwww.facebook.com%2Fshare%2Fp%2F1AbCdEfGh%2F"),
     "https://www.facebook.com/permalink.php?story_fbid=pfbid0xyZ&id=100098765432101"),
    ("https://m.facebook.com/watch/?v=1234567890123456&mibextid=2JQ9oc", "https://m.facebook.com/watch/?v=1234567890123456"),
    ("https://www.facebook.com/photo.php?fbid=1234567890&set=a.987654321&type=3&mibextid=cr9u03",
     "https://www.facebook.com/photo.php?fbid=1234567890&set=a.987654321&type=3"),
    ("https://www.facebook.com/groups/guruhonorer/posts/7412345678901234/?mibextid=rS40aB7S9Ucbxw6v&__cft__[0]=AZX&__tn__=%2CO",
     "https://www.facebook.com/groups/guruhonorer/posts/7412345678901234/"),
    ("https://www.facebook.com/reel/987654321098765?fs=e&s=TIeQ9V&mibextid=0NULKw&fbclid=IwAR0abc",
     "https://www.facebook.com/reel/987654321098765?fs=e&s=TIeQ9V"),
    # TikTok: no parameter names the video; _r, _t, is_from_webapp, sender_device, u_code… name the sharer.
    ("https://www.tiktok.com/@camat.contoh/video/7312345678901234567?_r=1&_t=8iAbCdEfGh",
     "https://www.tiktok.com/@camat.contoh/video/7312345678901234567"),
    ("https://www.tiktok.com/@camat.contoh/video/7312345678901234567?is_from_webapp=1&sender_device=pc&web_id=73000",
     "https://www.tiktok.com/@camat.contoh/video/7312345678901234567"),
    (("https://www.tiktok.com/@camat.contoh/photo/7312345678901234568?_r=1&u_code=abc&share_app_id=1233"
      "&share_item_id=7312&sec_user_id=MS4wLjABAAAA&utm_source=copy&utm_medium=android"),
     "https://www.tiktok.com/@camat.contoh/photo/7312345678901234568"),
    # Threads: xmt and slof come with a shared link.
    ("https://www.threads.net/@bupati.contoh/post/C9aBcDeFgHi?xmt=AQGzAbCdEf&slof=1",
     "https://www.threads.net/@bupati.contoh/post/C9aBcDeFgHi"),
    ("https://www.threads.com/@bupati.contoh/post/C9aBcDeFgHi?xmt=AQGz",
     "https://www.threads.com/@bupati.contoh/post/C9aBcDeFgHi"),
    # Any site: utm_*, fbclid, gclid are trackers; other parameters stay exactly as typed.
    ("https://berita.contoh.id/2024/11/asn-kampanye?utm_source=whatsapp&utm_medium=social&utm_campaign=share",
     "https://berita.contoh.id/2024/11/asn-kampanye"),
    ("https://berita.contoh.id/baca?id=123&fbclid=IwAR2AbCdEfGhIj", "https://berita.contoh.id/baca?id=123"),
    ("https://toko.contoh.co.id/produk/kaos-paslon?gclid=Cj0KCQiA&warna=merah%20tua", "https://toko.contoh.co.id/produk/kaos-paslon?warna=merah%20tua"),
    ("HTTPS://Berita.Contoh.ID/a?utm_source=x", "https://berita.contoh.id/a"),
    # Facebook's link shim carries the target: unwrapped, and the target cleaned too.
    ("https://l.facebook.com/l.php?u=https%3A%2F%2Fberita.contoh.id%2Fa%3Ffbclid%3DIwAR0&h=AT0abc",
     "https://berita.contoh.id/a"),
]


@pytest.mark.parametrize(("shared", "expected"), SHARED)
def test_a_shared_link_is_cleaned_into_its_canonical_address(shared: str, expected: str) -> None:
    assert links.clean(shared) == expected
    assert links.clean(expected) == expected, "a clean link stays as it is"


def test_the_table_covers_the_six_platforms_and_the_trackers() -> None:
    named = {links.platform(shared) for shared, _ in SHARED}
    assert {"Instagram", "YouTube", "X", "Facebook", "TikTok", "Threads"} <= named
    assert len(SHARED) >= 25
    for tracker in ("utm_", "fbclid", "gclid"):
        assert any(tracker in shared for shared, _ in SHARED)


@pytest.mark.parametrize("short", [
    "https://vm.tiktok.com/ZMhAbCdEf/", "https://vt.tiktok.com/ZSAbCdEf/", "https://www.tiktok.com/t/ZTAbCdEf/",
    "https://www.facebook.com/share/p/1AbCdEfGh/", "https://www.facebook.com/share/v/1XyZ/", "https://fb.me/e/AbCd",
    "https://fb.watch/aBcDeF/", "https://t.co/AbCdEf1234", "https://www.instagram.com/share/reel/BAbCdEf",
    "vm.tiktok.com/ZMhAbCdEf/",
])
def test_share_links_whose_path_is_the_identifier_need_resolving(short: str) -> None:
    assert links.needs_resolving(short)
    assert links.needs_resolving(links.clean(short))


@pytest.mark.parametrize("plain", [
    "https://www.tiktok.com/@camat.contoh/video/7312345678901234567", "https://youtu.be/dQw4w9WgXcQ",
    "https://www.facebook.com/story.php?story_fbid=1&id=2", "https://vm.tiktok.com/", "https://x.com/a/status/1",
])
def test_ordinary_links_need_no_resolving(plain: str) -> None:
    assert not links.needs_resolving(plain)


def test_links_are_found_in_text_as_people_type_them() -> None:
    text = ("Lihat https://youtu.be/dQw4w9WgXcQ?si=AbC, juga (https://x.com/a/status/1?s=20). "
            "Dan vm.tiktok.com/ZMhAbCdEf/ serta https://id.wikipedia.org/wiki/Pilkada_(Indonesia)!")
    assert [f.url for f in links.find(text)] == [
        "https://youtu.be/dQw4w9WgXcQ?si=AbC", "https://x.com/a/status/1?s=20", "vm.tiktok.com/ZMhAbCdEf/",
        "https://id.wikipedia.org/wiki/Pilkada_(Indonesia)"]
    assert links.clean_text(text) == (
        "Lihat https://youtu.be/dQw4w9WgXcQ, juga (https://x.com/a/status/1). "
        "Dan https://vm.tiktok.com/ZMhAbCdEf/ serta https://id.wikipedia.org/wiki/Pilkada_(Indonesia)!")
    assert links.find("email budi@instagram.com dan x.co.id tanpa tautan") == []


def test_credentials_and_over_long_links_keep_no_query() -> None:
    assert links.clean("https://user:sandi@berita.contoh.id/a?id=1") == "https://berita.contoh.id/a?id=1"
    long = "https://berita.contoh.id/a?" + "&".join(f"p{n}=xxxxxxxxxx" for n in range(300))
    assert links.clean(long) == "https://berita.contoh.id/a"
    # ClearURLs' Instagram redirect rule takes any `u=` for a target: one that is no link keeps no query
    assert links.clean("https://www.instagram.com/p/abc/?menu=1") == "https://www.instagram.com/p/abc/"


def test_platforms_are_named_and_other_sites_by_their_host() -> None:
    assert links.label("https://m.facebook.com/watch/?v=1") == "Facebook"
    assert links.label("https://vt.tiktok.com/ZS/") == "TikTok"
    assert links.label("https://www.berita.contoh.id/a") == "berita.contoh.id"


@given(st.sampled_from([s for s, _ in SHARED]), st.lists(st.sampled_from(
    ["utm_source=wa", "fbclid=IwAR", "igsh=MWQ", "si=AbC", "gclid=Cj0", "mibextid=Nif"]), max_size=3))
def test_cleaning_is_idempotent_and_drops_every_tracker(shared: str, extra: list[str]) -> None:
    url = shared + ("&" if "?" in shared else "?") + "&".join(extra) if extra else shared
    once = links.clean(url)
    assert links.clean(once) == once
    for tracker in ("utm_", "fbclid", "igsh", "gclid", "mibextid"):
        assert tracker not in once, (url, once)


# An attacker's review (2026-12-07) found links that came out with the sharer's trace, or broke
# the step; each case below failed on the code before it.
TRACE = "SECRET9"


@pytest.mark.parametrize("text", [
    f"Linknyahttps://www.instagram.com/p/ABC/?igsh={TRACE}",  # glued to the word before it
    f"bukti2https://youtu.be/dQw4w9WgXcQ?si={TRACE}",
    f"https://www.instagram.com/p/ABC/?%69gsh={TRACE}",  # the name percent-encoded
    f"https://www.instagram.com/p/ABC/?ig%73h={TRACE}",
    f"https://www.instagram.com/p/ABC/?igsh[]={TRACE}",
    f"https://www.instagram.com/p/ABC/?+igsh={TRACE}",
    f"https://www.instagram.com/p/ABC/?a=1;igsh={TRACE}",
    f"https://www.instagram.com/p/ABC/?igsh%3D{TRACE}",
    f"https://www.instagram.com/p/ABC/#/?igsh={TRACE}",  # in the fragment, on a platform
    f"m.instagram.com/p/ABC/?igsh={TRACE}",  # bare hosts with a subdomain, or a platform's other domain
    f"mobile.twitter.com/a/status/1?t={TRACE}",
    f"fb.com/story.php?story_fbid=1&id=2&mibextid={TRACE}",
    f"instagr.am/p/ABC/?igsh={TRACE}",
    f"www.youtu.be/dQw4w9WgXcQ?si={TRACE}",
    f"https://shopee.co.id/product/1/2?smtt=0.{TRACE}&sp_atk={TRACE}&xptdk={TRACE}",  # Shopee's share sheet
    f"https://www.tokopedia.com/toko/kaos?_branch_match_id={TRACE}&_branch_referrer={TRACE}",
])
def test_a_share_parameter_hidden_from_the_rules_is_still_dropped(text: str) -> None:
    cleaned = links.clean_text(text)
    assert TRACE not in cleaned, cleaned
    assert links.clean_text(cleaned) == cleaned


@pytest.mark.parametrize("short", [
    "https://ｖｍ.tiktok.com/ZMhAbCdEf/",  # full-width letters, an ideographic full stop, a zero-width space:
    "https://vm。tiktok.com/ZMhAbCdEf/",  # a browser maps each host to vm.tiktok.com (UTS-46)
    "https://vm.tiktok.com\u200b/ZMhAbCdEf/",
    "https://www.facebook.com/SHARE/p/1AbCdEfGh/", "https://www.facebook.com//share/p/1AbCdEfGh/",
    "https://www.facebook.com/%73hare/p/1AbCdEfGh/",
    "https://sck.io/p/AbCdEf", "https://s.kwai.app/s/AbCdEf", "https://l.likee.video/v/AbCd",
    "https://v.lemon8-app.com/AbCdEf/", "https://vt.tokopedia.com/t/ZSAbCd/", "https://shope.ee/AbCdEf",
    "https://s.id/AbCd", "https://bit.ly/3AbCdEf",
])
def test_share_links_in_disguise_or_on_other_apps_need_resolving(short: str) -> None:
    assert links.needs_resolving(links.clean(short)), links.clean(short)


def test_a_link_wrapped_more_often_than_the_rules_run_keeps_nothing_of_the_sharer() -> None:
    url = "https://vm.tiktok.com/ZMSECRET9/"
    for _ in range(9):
        url = "https://www.google.com/url?q=" + url
    cleaned = links.clean(url)
    assert links.needs_resolving(cleaned) or "ZMSECRET9" not in cleaned, cleaned
    assert links.clean(cleaned) == cleaned


@pytest.mark.parametrize("text", [
    "https://[::1]@instagram.com]x/p", "https://www.google.com/url?q=https://%5B:80", "https://x.com/a?q=https://[",
])
def test_a_link_that_breaks_the_parser_is_cleaned_to_its_host_and_path_or_left_alone(text: str) -> None:
    links.clean_text(text)  # raised ValueError('Invalid IPv6 URL'): the reporter's step failed every time


@pytest.mark.parametrize(("question", "linked"), [
    ("Tolong buka quickmessage.us/abc lalu kirim ulang fotonya", True),  # IP loggers (Grabify, IPLogger)
    ("Lihat yip.su/2Xyz", True), ("Cek iplis.ru/abc", True), ("Buka grabify.link/ABC", True),
    ("Buka contoh.cc", True), ("https://berita.contoh.id/a", True),
    ("Kapan kejadiannya? Pukul 10.30 WIB?", False), ("Di Jl. Merdeka No. 5, dll.", False),
    ("Apakah ada saksi lain?", False),
])
def test_a_question_with_a_link_is_flagged_wherever_the_link_lives(question: str, linked: bool) -> None:
    """Regression (attacker's review): an officer's question with an IP logger on .us, .su or
    .ru reached the reporter without the caution; one tap tells the officer where they are."""
    from flows.reporter.info_answer import has_link

    assert has_link(question) is linked
