"""Issue 30: the conversation forgives. Typed answers are matched to the options of each real
menu (as the flow offers them, read back from the stored conversation) with typo
tolerance, the words of an option's explanation and everyday yes/no forms; near ties are
offered as a short choice; words that must not match do not. Every region name survives a
typo without being taken for another. Then the same through the flow: echoes of what free
text matched, a bare number asked about, a second report by asking, a village head's menu,
a step counter that counts questions."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flows import regions
from flows.engine import Engine
from flows.regions import fold
from storage import Database, conversations
from tests.chat import HAPPY_PATH, Chat

if TYPE_CHECKING:
    from flows.matching import Candidate

VILLAGE = ("halo", "@agree", "kab badung", "@desa", "Desa Dalung", "I Made Sudarma")
MENUS: dict[str, tuple[str, ...]] = {
    "consent": ("halo",),
    "agency_group": ("halo", "@agree", "denpasar"),
    "agency_unit_pemda": ("halo", "@agree", "denpasar", "@pemda"),
    "agency_unit_pusat": ("halo", "@agree", "denpasar", "@pusat"),
    "village_position": VILLAGE,
    "person_status": HAPPY_PATH[:8],
    "incident_asn": HAPPY_PATH[:9],
    "incident_asn_more": (*HAPPY_PATH[:9], "@nav:next"),
    "incident_village": (*VILLAGE, "Kepala desa"),
    "evidence": HAPPY_PATH[:17],
    "no_evidence": (*HAPPY_PATH[:16], "@done"),
    "identity": HAPPY_PATH[:19],
    "summary": HAPPY_PATH,
    "edit": (*HAPPY_PATH, "@edit"),
    "confirm_cancel": (*HAPPY_PATH, "/batal"),
    "confirm_restart": (*HAPPY_PATH, "/mulai"),
    "confirm_clear": (*HAPPY_PATH[:17], "@clear"),
    "confirm_erase": ("halo", "@agree", "/hapus_data"),
    "resume": (*HAPPY_PATH[:5], "#wait 25", "halo"),
    "language": ("halo", "/bahasa"),
    "done": (*HAPPY_PATH, "@send", "oke"),
}
"""Every menu of the report, and the answers that lead to it (on WhatsApp, where typing is
the only way to answer)."""


async def _menus(path: Path) -> dict[str, list[Candidate]]:
    from flows.matching import Candidate  # here, so that the flow's tests run on code without it

    db = await Database.open(path)
    found: dict[str, list[Candidate]] = {}
    try:
        engine = Engine(db)
        for n, (name, lines) in enumerate(MENUS.items()):
            chat = Chat(engine, channel="whatsapp", address=f"+62812000{n:05d}")
            await chat.run(*lines)
            async with db.reading() as tx:
                stored = await conversations.load(tx, chat.channel, chat.address)
            assert stored is not None
            data = json.loads(stored.data)
            if data.get("matchable"):
                found[name] = [Candidate(o[0], o[1], tuple(o[3:]), o[2]) for o in data["matchable"]]
            else:
                found[name] = [Candidate(o[0], o[1], tuple(o[2:])) for o in data["offered"]]
    finally:
        await db.close()
    return found


@pytest.fixture(scope="module")
def options(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Candidate]]:
    return asyncio.run(_menus(tmp_path_factory.mktemp("menus") / "menus.db"))


TABLE = [
    # typos
    ("consent", "setju", "agree"), ("consent", "stuju", "agree"), ("consent", "setujuuu", "agree"),
    ("consent", "ga setju", "decline"), ("consent", "tdk setuju", "decline"),
    ("agency_unit_pemda", "kecamatn", "kecamatan"), ("agency_unit_pemda", "kelurhan", "kelurahan"),
    ("agency_unit_pemda", "sekola", "sekolah"), ("agency_group", "pemdaa", "pemda"),
    ("agency_group", "polisi", "tni_polri"), ("person_status", "ngga tau", "tidak_tahu"),
    ("person_status", "honor", "honorer"), ("incident_asn", "medsos", "media_sosial"),
    # the words of an option's explanation (shown or not)
    ("incident_asn", "mobil dinas", "fasilitas_negara"), ("incident_asn", "baliho", "alat_peraga"),
    ("incident_asn", "fotokopi ktp", "surat_dukungan"), ("incident_asn", "bagi sembako", "ajakan_barang"),
    ("incident_asn", "deklarasi", "ikut_kampanye"), ("incident_asn", "anggaran", "fasilitas_negara"),
    ("agency_unit_pemda", "smp", "sekolah"), ("agency_unit_pemda", "puskesmas", "kesehatan"),
    ("agency_unit_pusat", "madrasah", "kemenag"), ("incident_village", "dana desa", "fasilitas_negara"),
    ("incident_village", "warga", ("mobilisasi", "ajakan_barang")),
    # near ties: a short choice, never a guess
    ("incident_asn", "pegawai", ("mobilisasi", "ajakan_barang")),
    ("incident_asn", "partai", ("alat_peraga", "atribut", "anggota_parpol")),
    # too many: refused with the whole question
    ("incident_asn", "kampanye", None), ("incident_asn", "calon", None),
    # words that must not match
    ("person_status", "tidak", None), ("person_status", "tahu", None), ("person_status", "ya", None),
    ("consent", "tidak tahu", None), ("confirm_clear", "tidak hapus", None), ("confirm_clear", "dihapus", None),
    ("agency_group", "des", None), ("agency_group", "dinas pendidikan", None), ("incident_asn", "12", None),
    ("incident_asn", "7", None), ("incident_asn", "asn", None), ("incident_village", "kepala sekolah", None),
    ("summary", "gak jadi", None), ("done", "terima kasih", None), ("done", "status", None),
    # everyday yes and no
    ("consent", "gak jadi", "decline"), ("consent", "nggak usah", "decline"), ("consent", "iya deh", "agree"),
    ("consent", "boleh", "agree"), ("confirm_erase", "gak jadi", "keep"), ("confirm_erase", "nggak usah", "keep"),
    ("confirm_erase", "batal", "keep"), ("confirm_erase", "iya deh", "erase"), ("confirm_erase", "boleh", "erase"),
    ("confirm_erase", "ga jd", "keep"), ("confirm_clear", "ya hapus aja", "yes"), ("confirm_restart", "gk usah", "no"),
    ("no_evidence", "lanjut aja", "none"), ("resume", "lanjut", "continue"),
    # a second report, asked for
    ("done", "lapor lagi", "new"), ("done", "mau lapor lagi", "new"), ("done", "laporan baru", "new"),
    ("done", "mau lapor", "new"), ("done", "saya mau lapor lagi dong", "new"),
]


@pytest.mark.parametrize("menu, typed, expected", TABLE, ids=[f"{m}:{t}" for m, t, _e in TABLE])
def test_the_matcher_on_the_real_menus(options: dict[str, list[Candidate]], menu: str, typed: str,
                                       expected: str | tuple[str, ...] | None) -> None:
    from flows import matching

    found = matching.match(typed, options[menu])
    if expected is None:
        assert found.ids == (), found
    elif isinstance(expected, str):
        assert found.one == expected, found
    else:
        assert set(found.ids) == set(expected) and len(found.ids) > 1, found


def _typos(word: str) -> set[str]:
    """One slip of the thumb: a letter missing, doubled, swapped with the next, or wrong."""
    out = set()
    for i in range(len(word)):
        out.add(word[:i] + word[i + 1:])
        out.add(word[:i] + word[i] + word[i:])
        out.add(word[:i] + "x" + word[i + 1:])
        if i + 1 < len(word):
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2:])
    return out - {word}


def test_one_typo_never_picks_another_option_in_any_menu(options: dict[str, list[Candidate]]) -> None:
    """Each label and alias of every menu, with every single typo: the answer is its own
    option, a short choice that includes it, or a refusal; never another option alone."""
    from flows import matching

    taken = asked = refused = 0
    wrong = []
    for menu, candidates in options.items():
        exact = {p for c in candidates for p in c.phrases()}
        for option in candidates:
            for phrase in {matching.fold(option.label), *(matching.fold(a) for a in option.aliases)}:
                if len(phrase) < matching.MIN_FUZZY + 1:
                    continue
                for typo in _typos(phrase):
                    if typo in exact:
                        continue  # the slip made another option's word: that option is right
                    found = matching.match(typo, candidates)
                    if found.one == option.id:
                        taken += 1
                    elif option.id in found.ids:
                        asked += 1
                    elif found.ids:
                        wrong.append((menu, typo, option.id, found.ids))
                    else:
                        refused += 1
    assert wrong == []
    assert taken > 9 * (asked + refused), (taken, asked, refused)


@pytest.mark.slow  # exhaustive: every one-letter typo of 552 names
def test_one_typo_in_a_region_name_never_picks_another_region() -> None:
    """All 552 names: a typo finds the region (alone, or among a few to choose from), or
    nothing; another region alone only where the typo is itself the start of its name."""
    keys = {fold(r.name) for r in regions.all_regions()} | set(regions._catalog().keys)
    alone = among = nothing = 0
    for region in regions.all_regions():
        prefix, bare = regions._split_prefix(region.name)
        words = bare.lower()
        for title in regions._TITLES:
            words = words.removeprefix(title)
        if len(fold(words)) < 5:
            continue
        for typo in _typos(words):
            query = f"{prefix} {typo}" if prefix else typo
            found = [r.code for r in regions.search(query)]
            if found == [region.code]:
                alone += 1
            elif region.code in found:
                among += 1
            elif not found:
                nothing += 1
            else:
                assert any(k.startswith(fold(typo)) for k in keys), (query, region.name, found)
    assert alone > 50 * (among + nothing), (alone, among, nothing)


# --- through the flow ----------------------------------------------------------------------

async def _chat(engine: Engine, channel: str = "whatsapp") -> Chat:
    return Chat(engine, channel=channel, address="+6281299990000")


async def test_a_typed_pick_is_echoed_and_a_near_tie_is_a_short_choice(engine: Engine) -> None:
    chat = await _chat(engine)
    await chat.run("halo", "setju")
    assert chat.text().startswith("» Setuju\n\nLangkah 1 dari 16\n"), chat.text()
    await chat.run("kab bandung barat")
    assert chat.text().startswith("» Kabupaten Bandung Barat, Jawa Barat\n\nLangkah 2 dari 16\n")
    await chat.run("pemda", "kecamatn")
    assert chat.text().startswith("» Kecamatan\n\nLangkah 4 dari 16\n")
    await chat.run("Kecamatan Lembang", "Asep", "Camat", "pns", "pegawai")
    assert await chat.state() == "incident_type"
    assert "1. Ajakan & bagi-bagi barang" in chat.text() and "2. Mengerahkan pegawai" in chat.text()
    assert "3. Bukan ini, tampilkan semua" in chat.text()
    await chat.run("mobil dinas")
    assert chat.text().startswith("» Pakai fasilitas negara\n\nLangkah 9 dari 16\n")
    await chat.run("3 hari lalu")
    assert chat.text().startswith("» Senin, 18 November 2024\n\n")


async def test_a_bare_number_at_a_free_text_question_is_asked_about(engine: Engine) -> None:
    chat = await _chat(engine)
    await chat.run("halo", "ya", "denpasar", "pemda", "dinas", "2")
    assert await chat.state() == "agency_name"
    assert chat.text().startswith("Maksud Anda pilihan 2?"), chat.text()
    assert "balas 1 (Tidak tahu)" in chat.text()
    await chat.run("1")
    assert await chat.state() == "person_name", "a number that is an option still picks it"


async def test_asking_for_another_report_starts_one(engine: Engine) -> None:
    chat = await _chat(engine, "console")
    await chat.run(*HAPPY_PATH, "@send", "mau lapor lagi")
    assert await chat.state() == "province"
    assert "Langkah 1 dari" in chat.text()


@pytest.mark.parametrize("typed", ["gak jadi", "nggak usah", "/batal", "batal"])
async def test_a_spoken_no_keeps_the_data(engine: Engine, typed: str) -> None:
    chat = await _chat(engine)
    await chat.run("halo", "ya", "/hapus_data", typed)
    assert await chat.state() == "province", chat.text()
    assert "dihapus" not in chat.text().split("\n")[0]


async def test_a_village_head_is_offered_no_civil_servants_breach(engine: Engine) -> None:
    chat = await _chat(engine, "console")
    await chat.run(*VILLAGE, "Kepala desa")
    first = chat.text()
    await chat.run("@nav:next")
    everything = first + chat.text()
    assert "ASN" not in everything, everything
    assert "Mengerahkan bawahan/warga" in first and "Bakal calon" not in everything
    assert "Kades/perangkat desa berpihak" not in everything
    assert re.search(r"Langkah 6 dari 14", first), first


async def test_a_close_choice_that_opens_the_other_kinds_shows_them_all(engine: Engine) -> None:
    """"lainya" is as close to "Lainnya…" (the other kinds) as to "Lainnya" (none fits):
    asked, and picking the first shows the whole second page, not the short choice again."""
    chat = await _chat(engine)
    await chat.run(*HAPPY_PATH[:9], "lainya")
    assert "1. Lainnya…\n" in chat.text() and "2. Lainnya - pelanggaran lain" in chat.text()
    await chat.run("1")
    assert "Jenis lainnya." in chat.text() and "9. « Jenis yang umum" in chat.text(), chat.text()
