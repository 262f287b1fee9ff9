"""Issue 27 in the report flow (the real engine on a real database, no channel): links,
recordings and forwarded messages at the evidence step, links cleaned wherever typed,
short links that the channel could not follow held for the moderators, the cautions."""

from __future__ import annotations

import json

from flows.engine import Engine
from storage import cases
from tests.chat import HAPPY_PATH, Chat

UNTIL_EVIDENCE = HAPPY_PATH[:16]
IG = "https://www.instagram.com/p/C9xYz12AbCd/?igsh=MWQ1ZGUxMzBkMA=="
FB = "https://www.facebook.com/story.php?story_fbid=pfbid02AbC&id=100012345678901&mibextid=Nif5oz"
YT = "https://youtu.be/dQw4w9WgXcQ?si=AbCdEfGhIjKlMnOp"


async def _draft(chat: Chat) -> dict[str, object]:
    async with chat.engine.db.reading() as tx:
        rows = await tx.execute_fetchall("SELECT data FROM conversations WHERE address = ?", (chat.address,))
    return dict(json.loads(rows[0][0])["draft"])


async def _stored_text(engine: Engine) -> str:
    """Everything durable, as text: conversations, cases, evidence, outbox."""
    found = []
    async with engine.db.reading() as tx:
        for table in ("conversations", "cases", "evidence", "outbox", "case_events"):
            found += [repr(tuple(r)) for r in await tx.execute_fetchall(f"SELECT * FROM {table}")]
    return "\n".join(found)


async def test_links_at_the_evidence_step_are_items_each_cleaned_and_counted(engine: Engine) -> None:
    """Regression: "Silakan balas 1 (Selesai)" answered an Instagram link at step 8."""
    chat = Chat(engine)
    await chat.run(*UNTIL_EVIDENCE, "#photo tangkapan")
    reply = chat.text()
    assert "tangkapan layar" in reply, "the first image brings the screenshot caution"
    await chat.run(f"Ini unggahannya {IG} dan {FB}")
    reply = chat.text()
    assert "3 bukti sudah masuk" in reply and "Selesai" in reply
    assert "tangkapan layar" not in reply, "the caution comes once"
    await chat.run(IG)
    assert "1 bukti sudah ada sebelumnya" in chat.text()
    evidence = (await _draft(chat))["evidence"]
    assert [e.get("url") for e in evidence] == [None, "https://www.instagram.com/p/C9xYz12AbCd/",
                                                "https://www.facebook.com/story.php?story_fbid=pfbid02AbC&id=100012345678901"]
    await chat.run("@done", "@anonim")
    summary = chat.text()
    assert "1 file, 2 tautan" in summary
    assert "Instagram: https://www.instagram.com/p/C9xYz12AbCd/" in summary and "Facebook: https://www.facebook.com/" in summary
    await chat.run("@send")
    async with engine.db.reading() as tx:
        case = (await cases.recent(tx, 1))[0]
        rows = await cases.evidence_of(tx, case.id)
    assert [(r.kind, r.url, r.held) for r in rows][1:] == [
        ("link", "https://www.instagram.com/p/C9xYz12AbCd/", False),
        ("link", "https://www.facebook.com/story.php?story_fbid=pfbid02AbC&id=100012345678901", False)]
    stored = await _stored_text(engine)
    for trace in ("igsh", "mibextid", "MWQ1ZGUxMzBkMA"):
        assert trace not in stored


async def test_a_share_link_typed_anywhere_is_stored_clean(engine: Engine) -> None:
    chat = Chat(engine)
    steps = list(UNTIL_EVIDENCE)
    steps[12] = "Ruang guru, lihat https://maps.app.goo.gl/Ab?g_st=ic dan https://x.com/a/status/1?s=46&t=AbC"
    steps[14] = f"Kepala sekolah mengajak guru memilih paslon 2: {YT} (ajakan di grup WhatsApp guru)."
    steps[15] = "Pak Made, lihat https://www.tiktok.com/@a/video/7312?_r=1&_t=8iAb&is_from_webapp=1"
    await chat.run(*steps, "#photo a", "@done", "@anonim", "@send")
    async with engine.db.reading() as tx:
        case = (await cases.recent(tx, 1))[0]
    assert "https://youtu.be/dQw4w9WgXcQ (ajakan" in case.description
    assert case.place.endswith("dan https://x.com/a/status/1")
    assert case.witnesses == "Pak Made, lihat https://www.tiktok.com/@a/video/7312"
    stored = await _stored_text(engine)
    for trace in ("si=AbC", "s=46", "t=AbC", "_r=1", "_t=8iAb", "is_from_webapp"):
        assert trace not in stored, trace


async def test_a_short_link_nobody_followed_is_held_for_moderators_and_asked_about_once(engine: Engine) -> None:
    """Without a resolver (or when it failed), a share link is never kept as evidence to forward."""
    chat = Chat(engine)
    await chat.run(*UNTIL_EVIDENCE, "https://vm.tiktok.com/ZMhAbCdEf/?_r=1&_t=8iAb")
    reply = chat.text()
    assert reply.count("alamat lengkap yang tampil di browser") == 1
    assert "1 bukti sudah masuk" in reply
    await chat.run("https://www.facebook.com/share/p/1AbCdEfGh/")
    assert "alamat lengkap" not in chat.text(), "asked once per report"
    evidence = (await _draft(chat))["evidence"]
    assert evidence == [{"kind": "link", "ref": "https://vm.tiktok.com/ZMhAbCdEf/", "url": "https://vm.tiktok.com/ZMhAbCdEf/",
                         "held": True},
                        {"kind": "link", "ref": "https://www.facebook.com/share/p/1AbCdEfGh/",
                         "url": "https://www.facebook.com/share/p/1AbCdEfGh/", "held": True}]
    await chat.run("@done", "@anonim")
    assert "belum bisa dibersihkan" in chat.text() and "vm.tiktok.com" not in chat.text()
    await chat.run("@send")
    async with engine.db.reading() as tx:
        case = (await cases.recent(tx, 1))[0]
        rows = await cases.evidence_of(tx, case.id)
        payloads = [r[0] for r in await tx.execute_fetchall("SELECT payload FROM outbox")]
    assert [(r.kind, r.held) for r in rows] == [("link", True), ("link", True)]
    assert not any("ZMhAbCdEf" in p or "1AbCdEfGh" in p for p in payloads), "nothing queued names it"


async def test_a_short_link_in_the_description_leaves_a_note_and_is_held(engine: Engine) -> None:
    chat = Chat(engine)
    steps = list(UNTIL_EVIDENCE)
    steps[14] = "Kepala sekolah mengajak guru memilih paslon 2, videonya https://vt.tiktok.com/ZSAbCdEf/ kemarin."
    await chat.run(*steps[:15])
    assert "alamat lengkap yang tampil di browser" in chat.text()
    await chat.run(*steps[15:], "@done", "@anonim", "@send")
    async with engine.db.reading() as tx:
        case = (await cases.recent(tx, 1))[0]
        rows = await cases.evidence_of(tx, case.id)
    assert "[tautan pendek disimpan untuk moderator]" in case.description and "ZSAbCdEf" not in case.description
    assert [(r.kind, r.url, r.held) for r in rows] == [("link", "https://vt.tiktok.com/ZSAbCdEf/", True)]


async def test_recordings_are_evidence_with_one_caution_and_elsewhere_get_a_hint(engine: Engine) -> None:
    """Regression: "Maaf, saya tidak bisa mendengarkan pesan suara." at every step, step 8 included."""
    chat = Chat(engine)
    await chat.run(*UNTIL_EVIDENCE[:14], "#voice di-deskripsi")
    assert "bisa Anda kirim sebagai bukti" in chat.text()
    await chat.run(*UNTIL_EVIDENCE[14:], "#voice rekaman-rapat")
    reply = chat.text()
    assert "suara Anda sendiri" in reply and "1 bukti sudah masuk" in reply
    await chat.run("#voice rekaman-kedua")
    assert "suara Anda sendiri" not in chat.text()
    assert [e["kind"] for e in (await _draft(chat))["evidence"]] == ["audio", "audio"]


async def test_a_video_s_caution_names_the_face_too(engine: Engine) -> None:
    """Regression (attacker's review): a video, a Telegram round video note above all (a
    selfie), got only the voice caution."""
    chat = Chat(engine)
    await chat.run(*UNTIL_EVIDENCE, "#video bukti-rapat")
    reply = chat.text()
    assert "wajah" in reply and "suara Anda sendiri" in reply
    await chat.run("#voice rekaman")
    assert "suara Anda sendiri" not in chat.text(), "one caution for recordings, once"


async def test_no_caution_for_an_open_reporter(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run(*UNTIL_EVIDENCE, "#photo a", "@done", "@terbuka", "Siti Aminah", "0812 3456 7890", "@edit",
                   "@evidence", "#voice b")
    assert "suara Anda sendiri" not in chat.text()


async def test_a_forwarded_channel_message_is_an_item_with_its_origin(engine: Engine) -> None:
    """Regression: a forwarded campaign message was taken as text at step 8, and refused."""
    chat = Chat(engine)
    await chat.run(*UNTIL_EVIDENCE, "#forward Info ASN Kab (@infoasnkab)|Ayo coblos paslon 2! https://youtu.be/x?si=Ab")
    assert "1 bukti sudah masuk" in chat.text()
    await chat.run("@done", "@anonim")
    assert "Pesan diteruskan dari Info ASN Kab (@infoasnkab), dikirim Senin, 18 November 2024 pukul 09.15 WIB" in chat.text()
    await chat.run("@send")
    async with engine.db.reading() as tx:
        case = (await cases.recent(tx, 1))[0]
        (row,) = await cases.evidence_of(tx, case.id)
    assert (row.kind, row.origin, row.text) == ("message", "Info ASN Kab (@infoasnkab)", "Ayo coblos paslon 2! https://youtu.be/x")
    assert row.origin_at is not None and row.origin_at.startswith("2024-11-18T09:15:00+07:00")


async def test_status_and_the_export_list_the_clean_links_and_never_a_held_one(engine: Engine) -> None:
    from bot.export import Layout, rows
    from storage.case_queries import CaseFilter

    chat = Chat(engine)
    await chat.run(*UNTIL_EVIDENCE, f"{IG} https://vm.tiktok.com/ZMheld/", "@done", "@anonim", "@send")
    await chat.run("/status")
    status = chat.text()
    assert "Instagram: https://www.instagram.com/p/C9xYz12AbCd/" in status
    assert "ZMheld" not in status and "belum bisa dibersihkan" in status
    layout = Layout("id")
    exported = [row async for row in rows(engine.db, CaseFilter(), identity=False, layout=layout)]
    assert exported[0][layout.header(identity=False).index("Tautan")] == "Instagram: https://www.instagram.com/p/C9xYz12AbCd/"
