"""The conversation as reporters really talk (issue 13): each test is one finding of the
review, typed the way the reviewer typed it, through the report flow alone (`steps`, no
database) or, where what is stored matters, the real engine on SQLite and PostgreSQL
(`engine`), and shown the way the channel shows it (tests/chat.py renders WhatsApp and the
console with the same plain-text renderer the channels use)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from flows.engine import Engine
from flows.i18n import long_date
from flows.policy import Policy
from storage import cases, routes
from tests.backends import Backend
from tests.chat import HAPPY_PATH, Chat
from tests.steps import Steps

BADUNG_KEPALA_DESA = (
    "halo", "ya", "kab badung", "desa", "Desa Dalung", "I Made Sudarma", "Kepala desa",
    "ajakan", "28 nov", "2 hari lalu", "Balai Desa Dalung", "lewati",
    "Kepala desa mengumpulkan warga di balai desa dan mengajak memilih paslon 1.", "lewati",
    "selesai", "lanjut tanpa bukti", "anonim",
)
"""A report of a kepala desa in Kabupaten Badung, typed as a new reporter types it: words
and short names, never a number."""


def plain(chat: Chat) -> str:
    return chat.text()


async def only_case(engine: Engine) -> cases.Case:
    async with engine.db.reading() as tx:
        found = await cases.recent(tx)
    assert len(found) == 1
    return found[0]


# --- Buttons that do not exist ---------------------------------------------------------

@pytest.mark.parametrize("channel", ["whatsapp", "console"])
async def test_numbered_channels_never_talk_about_buttons(steps: Steps, channel: str) -> None:
    chat = Chat(steps, channel=channel, address=f"{channel}-1")
    seen = []
    for line in (*HAPPY_PATH[:10], "#sticker", *HAPPY_PATH[10:15], "#sticker", HAPPY_PATH[15],
                 "#sticker", *HAPPY_PATH[16:19], "#sticker", *HAPPY_PATH[19:21], "#sticker", HAPPY_PATH[21]):
        await chat.send(line)
        seen.append(plain(chat))
    everything = "\n".join(seen)
    assert not re.search(r"tekan|tombol", everything, re.IGNORECASE), everything
    phone = seen[-2]
    assert "Berapa nomor HP Anda (misalnya 081234567890)?" in phone
    assert "membagikannya" not in phone and "(Ketik nomor HP Anda.)" not in phone


async def test_telegram_still_says_press(steps: Steps) -> None:
    chat = Chat(steps)  # the "test" channel has Telegram's abilities
    await chat.run(*HAPPY_PATH[:10])
    assert "Tekan tombol atau ketik tanggalnya" in plain(chat)
    await chat.run(*HAPPY_PATH[10:21])
    assert "Anda juga bisa membagikannya dengan tombol" in plain(chat)


# --- Dates -----------------------------------------------------------------------------

@pytest.mark.parametrize("typed, expected", [
    ("kemarin", "2024-11-20"), ("2 hari lalu", "2024-11-19"), ("3 hari yang lalu", "2024-11-18"),
    ("minggu lalu", "2024-11-14"), ("Senin kemarin", "2024-11-18"), ("senin", "2024-11-18"),
    ("28 nov", "2023-11-28"), ("28/11", "2023-11-28"), ("19/11", "2024-11-19"), ("yesterday", "2024-11-20"),
    ("2 days ago", "2024-11-19"), ("19/11/2024", "2024-11-19"), ("19-11-2024", "2024-11-19"),
    ("19 nov 2024", "2024-11-19"), ("Selasa, 19 November 2024", "2024-11-19"), ("hari ini", "2024-11-21"),
])
async def test_dates_as_people_type_them(steps: Steps, typed: str, expected: str) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000001")
    await chat.run(*HAPPY_PATH[:10], typed)
    assert await chat.state() == "learned_on", plain(chat)
    assert (await chat.draft())["occurred_on"] == expected


async def test_tomorrow_is_in_the_future(steps: Steps) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000001")
    await chat.run(*HAPPY_PATH[:10], "besok")
    assert await chat.state() == "occurred_on" and "belum terjadi" in plain(chat)


@pytest.mark.parametrize("typed", ["31/02/2024", "30 Februari 2024", "29/02/2023", "31/11"])
async def test_an_impossible_date_says_so(steps: Steps, typed: str) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000001")
    await chat.run(*HAPPY_PATH[:10], typed)
    assert await chat.state() == "occurred_on"
    assert "tidak ada" in plain(chat) and "tidak dapat dibaca" not in plain(chat)


def test_one_date_style_without_zero_padding() -> None:
    assert long_date(date(2026, 12, 1), "id") == "Selasa, 1 Desember 2026"
    assert long_date(date(2020, 11, 19), "id") == "Kamis, 19 November 2020"


async def test_my_data_uses_the_same_date_style(engine: Engine) -> None:
    chat = Chat(engine, channel="console", address="local")
    await chat.run(*HAPPY_PATH, "@send", "/data_saya")
    assert "Kamis, 21 November 2024" in plain(chat)
    assert not re.search(r"\d{2}/\d{2}/\d{4}", plain(chat)), plain(chat)


# --- Everyday answers ------------------------------------------------------------------

@pytest.mark.parametrize("word", ["ya", "yes", "iya", "ok", "Ya."])
async def test_yes_at_consent(steps: Steps, word: str) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000002")
    await chat.run("halo", word)
    assert await chat.state() == "province"


@pytest.mark.parametrize("word", ["tidak", "gak"])
async def test_no_at_consent(steps: Steps, word: str) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000002")
    await chat.run("halo", word)
    assert await chat.state() == "none"
    assert "Baik." in plain(chat)


@pytest.mark.parametrize("word, group", [("pemda", "pemda"), ("pusat", "pusat"), ("desa", "desa"),
                                         ("bumn", "bumn_bumd"), ("Polri", "tni_polri")])
async def test_agency_groups_by_their_short_names(steps: Steps, word: str, group: str) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000003")
    await chat.run("halo", "ya", "kab badung", word)
    assert (await chat.draft())["agency_group"] == group, plain(chat)


async def test_an_out_of_range_number_gets_the_valid_range(steps: Steps) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000004")
    await chat.run(*HAPPY_PATH, "@edit", "99")
    assert await chat.state() == "edit"
    assert "Balas dengan angka 1–10" in plain(chat)
    assert "tidak ditemukan" not in plain(chat)


async def test_yes_confirms_a_cancel(steps: Steps) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000004")
    await chat.run(*HAPPY_PATH[:6], "/batal", "iya")
    assert await chat.state() == "start"


# --- The person reported fits the agency -----------------------------------------------

async def test_a_village_head_is_not_asked_the_asn_status_and_is_recorded_as_not_asn(engine: Engine) -> None:
    chat = Chat(engine, channel="whatsapp", address="+6281200000005")
    shown = []
    for line in BADUNG_KEPALA_DESA:
        await chat.send(line)
        shown.append(plain(chat))
    everything = "\n".join(shown)
    assert "Apa status kepegawaiannya?" not in everything and "PPPK" not in everything
    assert "Desa Dalung, Kecamatan Kuta Utara" in shown[3], "the example follows the choice"
    assert "Dinas Pendidikan" not in everything
    summary = shown[-1]
    assert "Status kepegawaian: Bukan ASN" in summary
    await chat.send("kirim")
    case = await only_case(engine)
    assert (case.agency_group, case.person_status, case.person_position) == ("desa", "bukan_asn", "Kepala desa")


async def test_not_asn_reaches_the_case_card_lihat_and_the_export(engine: Engine) -> None:
    from bot.export import Layout, row_of
    from flows.case.case_text import case_fields

    chat = Chat(engine, channel="whatsapp", address="+6281200000011")
    await chat.run(*BADUNG_KEPALA_DESA, "kirim")
    case = await only_case(engine)
    person = dict(case_fields(case, "id", 0, show_identity=False))["Terlapor"]
    assert person == "I Made Sudarma (Kepala desa) · status kepegawaian: Bukan ASN"
    assert row_of(case, 0, identity=False)[Layout().header(False).index("person_status")] == "bukan_asn"


async def test_changing_the_agency_to_an_asn_one_asks_the_status(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run("halo", "@agree", "kab badung", "@desa", "Desa Dalung", "@unknown", "@skip",
                   *HAPPY_PATH[9:], "@edit", "@agency", "@pemda", "@kecamatan", "Kecamatan Kuta Utara")
    assert await chat.state() == "person_status", "an ASN agency now: the status is asked"
    await chat.send("@pns")
    assert await chat.state() == "summary"
    assert "Status kepegawaian: PNS" in plain(chat)


async def test_village_offices_are_offices(steps: Steps) -> None:
    from flows import menus

    village = menus.agency_group("desa")
    assert village is not None
    labels = [u.label for u in village.units]
    assert "Village head" not in labels and "Village staff" not in labels


@pytest.mark.parametrize("group", ["bumn_bumd", "tni_polri"])
async def test_not_asn_agencies_skip_the_status(steps: Steps, group: str) -> None:
    chat = Chat(steps)
    await chat.run("halo", "@agree", "kab badung", f"@{group}", "PLN", "@unknown", "@skip")
    assert await chat.state() == "incident_type"
    assert (await chat.draft())["person_status"] == "bukan_asn"


async def test_every_summary_field_has_a_label(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run("halo", "@agree", "denpasar", "@pemda", "@dinas", "@unknown", "@unknown", "@skip",
                   "@tidak_tahu", *HAPPY_PATH[9:])
    summary = plain(chat).split("Periksa kembali laporan Anda:\n\n")[1].split("\n\n")[0]
    assert "· Tidak tahu" not in summary
    for line in summary.splitlines():
        assert re.match(r"^[A-Z][^:]{2,40}: \S", line), line


# --- After sending ---------------------------------------------------------------------

async def test_without_a_focal_point_the_ending_says_so_once(engine: Engine) -> None:
    chat = Chat(engine, channel="whatsapp", address="+6281200000006")
    await chat.run(*BADUNG_KEPALA_DESA, "kirim")
    ending = plain(chat)
    assert "kami teruskan ke petugas pengawas untuk Kabupaten Badung" not in ending
    assert "menunggu" in ending.lower()
    news = "\n".join(r.text for r in await chat.news())  # type: ignore[union-attr]
    assert "Kami masih mencari petugas" not in news, "the ending already said it"
    await chat.send("/status")
    assert "Menunggu petugas" in plain(chat) and "rute" not in plain(chat)


async def test_with_a_focal_point_the_ending_names_the_region(engine: Engine) -> None:
    async with engine.db.transaction() as tx:
        await routes.add(tx, "51.03", -100123, by="test", at="2024-11-20T00:00:00+00:00")
    chat = Chat(engine, channel="whatsapp", address="+6281200000006")
    await chat.run(*BADUNG_KEPALA_DESA, "kirim")
    assert "petugas pengawas untuk Kabupaten Badung" in plain(chat)


# --- Confirm what destroys; acknowledge what changes -----------------------------------

async def test_start_over_in_the_middle_asks_first(steps: Steps) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000007")
    await chat.run(*HAPPY_PATH[:8], "/mulai")
    assert await chat.state() == "confirm_restart"
    await chat.send("tidak")
    assert await chat.state() == "person_status"
    assert (await chat.draft())["person_name"] == "Budi Santoso"
    await chat.run("/mulai", "ya")
    assert await chat.state() == "province", "consent was given already"
    assert (await chat.draft())["person_name"] is None


async def test_removing_all_files_asks_then_says_how_many(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:16], "#album 3", "@clear")
    assert await chat.state() == "confirm_clear"
    await chat.send("@yes")
    assert await chat.state() == "evidence"
    assert "3 bukti dihapus" in plain(chat)
    assert (await chat.draft())["evidence"] == []


async def test_the_same_file_twice_counts_once(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:16], "#files a.jpg a.jpg")
    assert "1 bukti sudah masuk (paling banyak 10)" in plain(chat)
    await chat.send("#photo a.jpg")
    assert len((await chat.draft())["evidence"]) == 1  # type: ignore[arg-type]


async def test_at_the_limit_only_done_or_remove(steps: Steps) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000008")
    await chat.run(*HAPPY_PATH[:16], "#album 10")
    assert "Kirim lagi" not in plain(chat)
    assert re.findall(r"^\s+\d\. (.*)$", plain(chat), re.MULTILINE) == ["Selesai", "Hapus semua bukti"]


# --- Say it once -----------------------------------------------------------------------

async def test_a_wrong_answer_at_consent_repeats_only_the_question(steps: Steps) -> None:
    chat = Chat(steps, channel="whatsapp", address="+6281200000009")
    await chat.run("halo", "#sticker")
    assert "Selamat datang" not in plain(chat) and "Privasi" not in plain(chat)
    assert "1. Setuju" in plain(chat)


async def test_consent_is_given_once_and_recorded_with_the_notice_version(engine: Engine) -> None:
    from flows.reporter import consent

    chat = Chat(engine)
    await chat.run(*HAPPY_PATH, "@send", "@new")
    assert await chat.state() == "province"
    async with engine.db.reading() as tx:
        rows = await tx.execute_fetchall("SELECT decision, notice_version FROM consents")
    assert [tuple(r) for r in rows] == [("given", consent.NOTICE_VERSION)]
    await chat.run(*HAPPY_PATH[2:], "@send")
    async with engine.db.reading() as tx:
        consent_times = {c.consent_at for c in await cases.recent(tx)}
    assert len(consent_times) == 1, "both cases carry the one consent"


async def test_a_changed_notice_is_asked_again(steps: Steps, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.reporter import consent

    chat = Chat(steps)
    await chat.run(*HAPPY_PATH, "@send")
    monkeypatch.setattr(consent, "NOTICE_VERSION", "a-newer-notice")
    await chat.send("@new")
    assert await chat.state() == "consent"


async def test_a_long_menu_on_whatsapp_is_short_with_explanations_on_request(steps: Steps) -> None:
    """Issue 30: the commonest kinds first, with what each means, and the rest behind
    "Lainnya…", labels only on a small screen until "?" asks for the explanations."""
    chat = Chat(steps, channel="whatsapp", address="+6281200000010")
    await chat.run(*HAPPY_PATH[:9])
    menu = plain(chat)
    assert "1. Kampanye di media sosial - unggah" in menu and "7. Lainnya…" in menu and len(menu) < 700, menu
    await chat.send("7")
    rest = plain(chat)
    assert "8. Lainnya\n" in rest and "9. « Jenis yang umum" in rest and len(rest) < 700, (len(rest), rest)
    assert "ketik ? untuk penjelasan" in rest
    await chat.send("?")
    assert await chat.state() == "incident_type"
    assert "memasang spanduk, baliho atau stiker" in plain(chat)
    await chat.send("2")
    assert await chat.state() == "occurred_on"
    assert (await chat.draft())["incident_type"] == "atribut"


# --- Privacy notice and help -----------------------------------------------------------

async def test_the_notice_says_who_runs_the_service_and_how_to_see_or_delete(backend: Backend) -> None:
    db = await backend.open()
    try:
        chat = Chat(Engine(db, policy=Policy(operator_name="Yayasan Pemilu Bersih")))
        await chat.send("halo")
        assert "Yayasan Pemilu Bersih" in plain(chat)
        assert "/data_saya" in plain(chat) and "/hapus_data" in plain(chat)
    finally:
        await db.close()


async def test_help_lists_the_data_commands(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run("/bantuan")
    assert "/data_saya" in plain(chat) and "/hapus_data" in plain(chat)


async def test_my_data_has_no_english_left(engine: Engine) -> None:
    chat = Chat(engine, channel="console", address="local")
    await chat.run(*HAPPY_PATH, "@send", "/data_saya")
    text = plain(chat)
    assert "given" not in text and "console local" not in text, text
    assert "Persetujuan diberikan" in text


async def test_a_returning_reporter_who_declines_is_told_the_truth(
        steps: Steps, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.reporter import consent

    chat = Chat(steps)
    await chat.run(*HAPPY_PATH, "@send")
    monkeypatch.setattr(consent, "NOTICE_VERSION", "a-newer-notice")
    await chat.run("@new", "@decline")
    assert "Tidak ada data Anda yang disimpan" not in plain(chat)
    assert "/hapus_data" in plain(chat)


# --- Done when -------------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["whatsapp", "console"])
async def test_a_kepala_desa_in_badung_goes_through_without_a_refusal(engine: Engine, channel: str) -> None:
    chat = Chat(engine, channel=channel, address=f"{channel}-kades")
    shown = []
    for line in (*BADUNG_KEPALA_DESA, "kirim"):
        await chat.send(line)
        shown.append(plain(chat))
    everything = "\n".join(shown)
    assert "tidak ditemukan" not in everything and "tidak dapat dibaca" not in everything
    assert await chat.state() == "done"
    case = await only_case(engine)
    assert (case.region_code, case.occurred_on, case.learned_on) == ("51.03", "2023-11-28", "2024-11-19")


async def test_an_officers_question_is_worded_for_the_reporters_channel(steps: Steps) -> None:
    from flows.reporter import info_answer
    from flows.reporter.conversation import Conversation

    chat = Chat(steps, channel="whatsapp", address="+6281200000012")
    await chat.run(*HAPPY_PATH[:4])
    stored = await chat.stored()
    assert stored is not None
    conv = Conversation.from_json(stored.state, stored.data, stored.updated_at)
    _conv, replies = info_answer.open_question(conv, 1, "LN-24-7K3Q9", "Jam berapa kejadiannya?")
    text = replies[0].text  # type: ignore[union-attr]
    assert "Setelah selesai, balas 1 (Selesai)." in text and "tekan" not in text
