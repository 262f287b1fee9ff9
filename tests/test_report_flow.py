"""The report flow: the conversation alone through `step` (the `steps` fixture, no database),
and end to end through the engine where what is stored matters (`engine`: SQLite and
PostgreSQL)."""

from __future__ import annotations

import pytest

from flows.engine import Engine
from flows.events import Choice, Inbound
from storage import cases, conversations, reporters
from tests.backends import Backend
from tests.chat import HAPPY_PATH, Chat
from tests.steps import Steps

pytestmark = pytest.mark.asyncio

# State reached after each input of HAPPY_PATH, and where /kembali leads from there.
PATH_STATES = [
    ("consent", "consent"), ("province", "province"), ("agency_group", "regency"),
    ("agency_unit", "agency_group"), ("agency_name", "agency_unit"),
    ("person_name", "agency_name"), ("person_position", "person_name"),
    ("person_status", "person_position"), ("incident_type", "person_status"),
    ("occurred_on", "incident_type"), ("learned_on", "occurred_on"), ("place", "learned_on"),
    ("place_pin", "place"), ("description", "place_pin"), ("witnesses", "description"),
    ("evidence", "witnesses"), ("evidence", "witnesses"), ("evidence", "witnesses"),
    ("identity", "evidence"), ("reporter_name", "identity"), ("reporter_phone", "reporter_name"),
    ("summary", "reporter_phone"),
]


async def only_case(engine: Engine) -> cases.Case:
    async with engine.db.reading() as tx:
        found = await cases.recent(tx)
    assert len(found) == 1, found
    return found[0]


async def test_happy_path_creates_a_complete_case(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run(*HAPPY_PATH)
    assert await chat.state() == "summary"
    assert "Terlapor: Budi Santoso (Kepala Sekolah)\nStatus kepegawaian: PNS" in chat.text()
    assert "Kota Denpasar, Bali" in chat.text()
    done = await chat.send("@send")
    assert await chat.state() == "done"
    assert done.case_number and done.case_number in chat.last.replies[0].text  # type: ignore[union-attr]
    assert "Terima kasih" in chat.text()
    case = await only_case(engine)
    assert case.number == done.case_number
    assert (case.region_code, case.province_code) == ("51.71", "51")
    assert (case.agency_group, case.agency_unit, case.agency_name) == ("pemda", "sekolah", "SMPN 1 Denpasar")
    assert (case.person_name, case.person_position, case.person_status) == ("Budi Santoso", "Kepala Sekolah", "pns")
    assert case.incident_type == "media_sosial"
    assert (case.occurred_on, case.learned_on) == ("2024-11-19", "2024-11-21")
    assert (case.latitude, case.longitude) == (-8.65, 115.21)
    assert case.identity_mode == "rahasia"
    assert (case.reporter_name, case.reporter_phone) == ("Siti Aminah", "+6281234567890")
    # No focal point is registered in this database: the case waits for a route.
    assert case.status == "menunggu_rute" and case.channel == "test" and case.locale == "id"
    async with engine.db.reading() as tx:
        evidence = await cases.evidence_of(tx, case.id)
        events = await cases.events_of(tx, case.id)
        stored = await conversations.load(tx, "test", "reporter-1")
    assert [e.kind for e in evidence] == ["photo", "photo", "photo", "document"]
    assert all(e.sha256 and e.mime and e.size for e in evidence)
    assert [(e.kind, e.after) for e in events] == [("created", "baru"), ("status", "menunggu_rute")]
    assert stored is not None and "Siti" not in stored.data  # the draft is gone once submitted


async def test_happy_path_in_english(engine: Engine) -> None:
    chat = Chat(engine, locale="en-GB")
    await chat.run(*HAPPY_PATH)
    assert chat.text().startswith("» +6281234567890\n\nPlease check your report:"), "the phone as stored, then"
    assert "Happened on: Tuesday, November 19, 2024" in chat.text()
    await chat.send("@send")
    assert "Thank you. Your report has been received" in chat.text()
    assert (await only_case(engine)).locale == "en"


async def test_anonymous_reporter_is_never_asked_for_name_or_phone(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run(*HAPPY_PATH[:19], "@anonim")
    assert await chat.state() == "summary"
    await chat.send("@send")
    case = await only_case(engine)
    assert (case.identity_mode, case.reporter_name, case.reporter_phone) == ("anonim", None, None)


@pytest.mark.parametrize("position", range(len(HAPPY_PATH)))
async def test_back_from_every_step(steps: Steps, position: int) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[: position + 1])
    reached, previous = PATH_STATES[position]
    assert await chat.state() == reached
    await chat.send("/kembali")
    assert await chat.state() == previous
    if reached == previous:
        assert "tidak ada langkah sebelumnya" in chat.text() or reached == "consent"


async def test_walking_back_to_the_start_and_forward_again_loses_nothing(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH)
    before = chat.text()
    visited = []
    while await chat.state() != "province":
        await chat.send("/kembali")
        visited.append(await chat.state())
    assert visited[:3] == ["reporter_phone", "reporter_name", "identity"]
    # Answer again exactly as before: the summary is the same.
    await chat.run(*HAPPY_PATH[2:16], "@done", "@rahasia", "Siti Aminah", "0812 3456 7890")
    after = chat.text()
    assert before.replace("3 file", "X").split("Bukti:")[0] == after.split("Bukti:")[0]
    assert "Bukti: 4 file" in after  # the files sent earlier are still there


EDITS = {
    "region": (["kab badung"], "Kabupaten Badung, Bali"),
    "agency": (["@desa", "Desa Sukamaju"], "Instansi: Desa · Desa Sukamaju\nTerlapor: Budi Santoso (Kepala Sekolah)"
                                           "\nStatus kepegawaian: Bukan ASN"),
    "person": (["@unknown", "@skip", "@tidak_tahu"],
               "Terlapor: nama tidak diketahui\nStatus kepegawaian: tidak diketahui"),
    "incident": (["@fasilitas_negara"], "Jenis pelanggaran: Pakai fasilitas negara"),
    "dates": (["@yesterday", "@same"], "Tanggal kejadian: Rabu, 20 November 2024"),
    "place": (["Balai Banjar Kuta", "@skip"], "Tempat: Balai Banjar Kuta\n"),
    "description": (["Camat membagikan sembako dengan stiker pasangan calon di kantor.", "Pak Made"],
                    "Saksi: Pak Made"),
    "evidence": (["@clear", "@yes", "@done", "@none"], "Bukti: tidak ada"),
    "identity": (["@terbuka", "Siti A", "#contact +6281111111"], "Identitas: Terbuka (Siti A, +6281111111)"),
}


@pytest.mark.parametrize("section", list(EDITS))
async def test_every_edit_path_returns_to_the_summary(steps: Steps, section: str) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH, "@edit")
    assert await chat.state() == "edit"
    inputs, expected = EDITS[section]
    await chat.run(f"@{section}", *inputs)
    assert await chat.state() == "summary", chat.text()
    assert expected in chat.text()
    await chat.send("@send")
    assert await chat.state() == "done"


async def test_edit_then_back_returns_to_the_summary_unchanged(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH)
    summary = chat.text()
    await chat.run("@edit", "@incident", "/kembali")
    assert await chat.state() == "edit"
    await chat.send("@back")
    assert await chat.state() == "summary"
    assert chat.text() == summary.removeprefix("» +6281234567890\n\n"), "the same, without the phone's echo"


async def test_cancel_asks_first_then_forgets_everything(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run(*HAPPY_PATH[:8])
    await chat.send("/batal")
    assert await chat.state() == "confirm_cancel"
    await chat.send("@no")
    assert await chat.state() == "person_status"
    await chat.run("/batal", "@yes")
    assert await chat.state() == "start"
    assert "dibatalkan" in chat.text()
    await chat.send("/batal")
    assert "Tidak ada laporan yang sedang diisi" in chat.text()
    async with engine.db.reading() as tx:
        assert await cases.count(tx) == 0
        stored = await conversations.load(tx, "test", "reporter-1")
    assert stored is not None and "Budi" not in stored.data


async def test_idle_for_a_day_offers_to_resume_or_start_over(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run(*HAPPY_PATH[:11])
    assert await chat.state() == "learned_on"
    await chat.run("#wait 25", "kemarin")
    assert await chat.state() == "resume"
    assert "belum selesai" in chat.text()
    await chat.send("@continue")
    assert await chat.state() == "learned_on"
    await chat.run(*HAPPY_PATH[11:], "@send")
    assert (await only_case(engine)).person_name == "Budi Santoso"


async def test_idle_then_start_over(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:11], "#wait 30", "halo", "@restart")
    assert await chat.state() == "province", "consent was given at the start of the report"
    await chat.run("denpasar", "@pemda", "@sekolah", "@unknown")
    assert await chat.state() == "person_name"


async def test_idle_less_than_a_day_just_continues(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:11], "#wait 23", "@today")
    assert await chat.state() == "place"


BAD_INPUTS = ["#sticker", "#empty", "/foo", "#long 10000", "#photo stray.jpg", "#loc 1,1", "@nonsense"]
STEPS_TO_PROBE = [2, 4, 8, 9, 10, 11, 13, 15, 18, 21]


@pytest.mark.parametrize("position", STEPS_TO_PROBE)
@pytest.mark.parametrize("bad", BAD_INPUTS)
async def test_bad_input_keeps_the_step_and_what_was_entered(steps: Steps, position: int, bad: str) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:position])
    state = await chat.state()
    before = await chat.stored()
    handled = await chat.send(bad)
    assert handled.replies, "bad input must get an answer"
    after_state = await chat.state()
    after = await chat.stored()
    assert before is not None and after is not None
    if (bad.startswith("#photo") and state == "evidence"
            or bad == "#long 10000" and state in ("description", "witnesses", "place")):
        return  # a file at the evidence step is evidence; long text is judged below
    if bad == "#loc 1,1" and state in ("place", "place_pin"):
        return  # a pin is the answer there
    assert after_state == state
    assert _draft(before.data) == _draft(after.data)


def _draft(data: str) -> str:
    import json

    return json.dumps(json.loads(data)["draft"], sort_keys=True)


async def test_ten_thousand_characters_are_refused_with_the_limit(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:14], "#long 10000")
    assert await chat.state() == "description"
    assert "paling banyak 4000 karakter" in chat.text()


async def test_short_description_is_refused_with_a_count(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:14], "terlalu pendek")
    assert await chat.state() == "description"
    assert "minimal 30 karakter (sekarang 14)" in chat.text()


async def test_control_characters_typed_or_pasted_are_dropped_and_the_report_goes_in(engine: Engine) -> None:
    """A NUL pasted from a broken app once made the submit fail on the database's CHECK
    (SQLite's length() stops at a NUL): the reporter lost the whole report."""
    chat = Chat(engine)
    path = list(HAPPY_PATH)
    path[6] = "Budi\x00 Santoso\x1b"
    path[14] = "Kepala sekolah\x00\x00 mengunggah ajakan\x07 memilih paslon 2 di grup guru.\r\nDua baris."
    await chat.run(*path)
    await chat.send("@send")
    assert await chat.state() == "done"
    case = await only_case(engine)
    assert case.person_name == "Budi Santoso"
    assert case.description == "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup guru.\nDua baris."


async def test_future_dates_are_refused(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:10], "22/11/2024")
    assert await chat.state() == "occurred_on"
    assert "belum terjadi" in chat.text()
    await chat.run("19 nov 2024", "18-11-2024")
    assert await chat.state() == "learned_on"
    assert "tidak mungkin mengetahuinya sebelum kejadian" in chat.text()


async def test_learned_more_than_seven_days_ago_warns_and_goes_on(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:10], "1 November 2024", "2 November 2024")
    assert await chat.state() == "place"
    assert "lebih dari 7 hari" in chat.text()


async def test_dates_in_every_written_form(steps: Steps) -> None:
    for number, typed in enumerate(["19/11/2024", "19-11-2024", "19 nov 2024", "19 November 2024"]):
        chat = Chat(steps, address=f"r{number}")
        await chat.run(*HAPPY_PATH[:10], typed)
        assert await chat.state() == "learned_on", typed


async def test_evidence_is_capped_at_ten_with_a_clear_message(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run(*HAPPY_PATH[:16], "#album 8", "#files b1 b2 b3 b4 b5")
    assert "Paling banyak 10 bukti; 3 bukti tidak disimpan" in chat.text()
    assert "Sudah 10 bukti, jumlah paling banyak yang kami terima" in chat.text()
    await chat.run("@done", "@anonim", "@send")
    case = await only_case(engine)
    async with engine.db.reading() as tx:
        assert len(await cases.evidence_of(tx, case.id)) == 10


async def test_no_evidence_needs_an_explicit_confirmation(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:16], "@done")
    assert await chat.state() == "no_evidence"
    assert "lebih lemah" in chat.text()
    await chat.send("@add")
    assert await chat.state() == "evidence"
    await chat.run("@done", "@none")
    assert await chat.state() == "identity"


async def test_consent_refused_stores_only_the_refusal(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run("halo", "@decline")
    assert "Tidak ada data Anda yang disimpan" in chat.text()
    async with engine.db.reading() as tx:
        assert await reporters.count(tx) == 0
        assert await conversations.load(tx, "test", "reporter-1") is None
        consents = await reporters.consents(tx)
    assert [(r, d) for r, d, _ in consents] == [(None, "refused")]


async def test_consent_given_is_recorded_with_time(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run("halo", "@agree")
    async with engine.db.reading() as tx:
        consents = await reporters.consents(tx)
    assert len(consents) == 1 and consents[0][0] is not None and consents[0][1] == "given"
    assert consents[0][2].startswith("2024-11-21T10:00:40")


async def test_typed_number_and_label_pick_an_option(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run("halo", "1", "DENPASAR", "1.")
    assert await chat.state() == "agency_unit"
    await chat.send("sekolah negeri")
    assert await chat.state() == "agency_name"


async def test_a_button_from_an_older_message_changes_nothing(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run("halo", "@agree", "denpasar")
    old = Inbound("test", "reporter-1", "stale-1", Choice("51", token=1), chat.now, "id")
    handled = await steps.handle(old)
    assert "sudah tidak berlaku" in handled.replies[0].text  # type: ignore[union-attr]
    assert await chat.state() == "agency_group"


async def test_province_then_paged_regency_list(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run("halo", "@agree", "@nav:next", "@nav:next", "@nav:prev")
    assert "Kalimantan" in chat.text() or "Jawa" in chat.text()
    await chat.run("jawa barat")
    assert await chat.state() == "regency"
    assert "@nav:next"[1:] in chat.options()
    await chat.run("@nav:next", "@32.73")
    assert await chat.state() == "agency_group"


async def test_ambiguous_region_name_offers_the_matches(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run("halo", "@agree", "bandung")
    assert await chat.state() == "province"
    assert chat.options()[:2] == ["32.04", "32.73"]
    await chat.send("@32.73")
    assert await chat.state() == "agency_group"


async def test_region_typed_names_found_tolerantly(engine: Engine) -> None:
    for typed, _code in [("baubau", "74.72"), ("fakfak", "92.03"), ("kab badung", "51.03")]:
        chat = Chat(engine, address=typed)
        await chat.run("halo", "@agree", typed, *HAPPY_PATH[3:], "@send")
    async with engine.db.reading() as tx:
        found = {c.region_code for c in await cases.recent(tx)}
    assert found == {"74.72", "92.03", "51.03"}


async def test_jakarta_goes_to_the_province_then_asks_the_city(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run("halo", "@agree", "jakarta")
    assert await chat.state() == "regency"
    assert "31.74" in chat.options()
    await chat.send("@province")
    assert await chat.state() == "agency_group"


async def test_language_switch_keeps_the_step(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:9], "/bahasa", "@en")
    assert await chat.state() == "incident_type"
    assert "Language changed." in chat.text()
    assert "What did they do?" in chat.text()


async def test_help_is_specific_to_the_step_and_keeps_it(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:10], "/bantuan")
    assert "19/11/2024, 19-11-2024" in chat.text() and "/kembali" in chat.text()
    assert await chat.state() == "occurred_on"


async def test_start_over_forgets_the_draft(steps: Steps) -> None:
    chat = Chat(steps)
    await chat.run(*HAPPY_PATH[:8], "/mulai")
    assert await chat.state() == "confirm_restart"
    await chat.run("@yes")
    assert await chat.state() == "province", "consent was given already"
    stored = await chat.stored()
    assert stored is not None and "Budi" not in _draft(stored.data)


async def test_status_shows_only_the_reporters_own_cases(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run(*HAPPY_PATH, "@send")
    number = chat.last.case_number  # type: ignore[union-attr]
    await chat.send(f"/status {number.lower()}")
    assert f"{number}: Menunggu petugas (sejak Kamis, 21 November 2024)" == chat.last.replies[0].text  # type: ignore[union-attr]
    other = Chat(engine, address="someone-else")
    await other.send(f"/status {number}")
    assert "tidak punya laporan" in other.text()
    await other.send("/status hello")
    assert "bukan nomor laporan" in other.text()


async def test_a_conversations_copy_is_whole_and_shares_nothing() -> None:
    """`copy` lists the fields itself (a JSON round trip was a sizeable part of a step):
    a field it forgot, or a container it shared, would change the step's input."""
    from dataclasses import fields

    from flows.reporter.conversation import Conversation, Draft, State

    draft = Draft(**{f.name: f"x-{f.name}" for f in fields(Draft) if f.name not in (
        "latitude", "longitude", "evidence", "no_evidence_confirmed", "cautions", "link_asked")})
    draft.latitude, draft.longitude, draft.no_evidence_confirmed = -8.65, 115.21, True
    draft.cautions, draft.link_asked = ["image"], True
    draft.evidence = [{"kind": "photo", "sha256": "ab", "size": 3}]
    conv = Conversation(state=State.SUMMARY, locale="en", draft=draft, history=["province"], token=7, page=2,
                        matches=["51.71"], editing="place", offered=[["send", "Kirim"]],
                        matchable=[["send", "Kirim", "", "ya"]], resume_to="place",
                        last_case="LN-1", info={"request": 3, "question": "?"}, abilities=["buttons"],
                        updated_at="2024-11-21T10:00:00+07:00")
    fresh = Conversation()
    assert all(getattr(conv, f.name) != getattr(fresh, f.name) for f in fields(Conversation))  # every field set
    copied = conv.copy()
    assert copied == conv and copied.to_json() == conv.to_json() and copied.updated_at == conv.updated_at
    copied.history.append("regency")
    copied.matches.append("51.02")
    copied.offered[0].append("ya")
    copied.draft.evidence[0]["size"] = 9
    copied.draft.evidence.append({"kind": "document"})
    copied.draft.cautions.append("recording")
    copied.info["question"] = "!"  # type: ignore[index]
    copied.abilities.append("location")
    assert conv.history == ["province"] and conv.matches == ["51.71"] and conv.offered == [["send", "Kirim"]]
    assert conv.draft.evidence == [{"kind": "photo", "sha256": "ab", "size": 3}]
    assert conv.info == {"request": 3, "question": "?"} and conv.abilities == ["buttons"]


async def test_a_new_route_reads_only_the_waiting_cases_it_can_take(engine: Engine, backend: Backend) -> None:
    """Regression: adding a route read every waiting case and looked up routes for each. The
    writer runs on the event loop, so on a launch day with thousands of waiting cases every
    route a moderator added paused every reporter. Now a route reads only the waiting cases
    of its region or province: the work does not grow with the cases waiting elsewhere."""
    from flows.policy import Policy
    from flows.staff import route_admin

    policy = Policy()
    statements: list[str] = []

    async def add_route(region: str, chat_id: int) -> tuple[str, ...]:
        writer = None if backend.postgres else engine.db._writer  # SQLite: count the statements
        if writer is not None:
            writer.set_trace_callback(statements.append)
        try:
            async with engine.db.transaction() as tx:
                added = await route_admin.add(tx, policy, region, chat_id, by="test", at="2024-11-22T00:00:00+00:00")
        finally:
            if writer is not None:
                writer.set_trace_callback(None)
        return added.forwarded

    assert await add_route("51.03", -1001) == ()  # Badung: nothing waits yet
    alone = len(statements)
    numbers = []
    for n in range(3):
        chat = Chat(engine, address=f"reporter-{n}")
        await chat.run(*HAPPY_PATH)
        numbers.append((await chat.send("@send")).case_number)
    async with engine.db.transaction() as tx:  # the last one was about Kota Bandung, Jawa Barat
        await tx.execute("UPDATE cases SET region_code = '32.73', province_code = '32' WHERE number = ?",
                         (numbers[2],))
    statements.clear()
    assert await add_route("51.04", -1002) == ()  # Gianyar: three cases wait, none of them there
    if not backend.postgres:
        assert len(statements) == alone, "no more work than with nothing waiting"
    assert await add_route("bali", -1003) == tuple(numbers[:2])  # the province takes Denpasar's
    # Regression: their cards not yet out, they were still "waiting", and the next route
    # forwarded them again: a second card in the same group.
    assert await add_route("denpasar", -1003) == ()
    async with engine.db.reading() as tx:
        posts = await tx.execute_fetchall(
            "SELECT c.number, o.address FROM outbox o JOIN cases c ON c.id = o.case_id WHERE o.kind = 'post_case'"
            " ORDER BY c.number")
    assert sorted(tuple(row) for row in posts) == sorted((number, "-1003") for number in numbers[:2])
    assert await add_route("32.73", -1004) == (numbers[2],)
    async with engine.db.reading() as tx:
        assert {c.number: c.routed_at is not None for c in await cases.recent(tx)} == dict.fromkeys(numbers, True)
