"""Issue 16, related reports: names that should and should not match, reports of one rally
and of one official linked at submission, identical files, what a focal group may see of
the links, moderators linking and unlinking, and candidate searches that use indexes."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.case import forwarding, related
from flows.case.related import agencies_match, name_tokens, names_match
from flows.engine import Engine
from flows.policy import Policy
from flows.staff import route_admin
from flows.staff.commands import StaffCommands, StaffReply
from flows.staff.desk import Desk
from flows.staff.roles import Caller, Role
from flows.staff.visibility import Viewer
from storage import Database, case_links, case_posts, cases, outbox, staff
from storage.cases import Case
from storage.evidence_files import EvidenceStore
from tests.backends import Backend
from tests.reports import Report, file_report, jpeg_with_gps

GROUP_A, GROUP_B = -100100, -100200
POLICY = Policy(admin_ids=frozenset({1}), moderator_chat_id=-100999)
MODERATOR = Caller(2, "Moderator", 2, in_group=False)
FOCAL_A = Caller(3, "Petugas A", GROUP_A, in_group=True)


@pytest.mark.parametrize("a, b", [
    ("I Wayan Sudarta", "Wayan Sudarta"),
    ("Drs. I Wayan Sudarta, M.Si.", "Wayan Sudharta"),
    ("Wayan Sudarta", "Sudarta, I Wayan"),
    ("H. Muhammad Yusuf, S.Pd.", "Mohamad Yusuf"),
    ("Hj. Siti Aminah, S.H.", "siti aminah"),
    ("Ir. Bambang Soedjatmiko", "Bambang Sujatmiko"),
    ("Soeparman", "Suparman"),
    ("Budi Santoso", "Budi Santosa"),
    ("Ni Luh Putu Ariani, S.Pd.SD", "Luh Putu Ariani"),
    ("Drs.Ketut Arsana", "ketut arsana"),
    ("Achmad Fauzi", "Ahmad Fauzi"),
    ("Nyoman Suartha", "I Nyoman Suarta, S.Sos"),
    ("Wayan Sudarta Putra", "Wayan Sudarta"),
])
def test_names_that_are_one_person(a: str, b: str) -> None:
    assert names_match(a, b) and names_match(b, a)


@pytest.mark.parametrize("a, b", [
    ("Budi Santoso", "Budi Susanto"),
    ("Wayan Sudarta", "Made Sudarta"),
    ("Siti Aminah", "Siti Aisyah"),
    ("Joko Widodo", "Joko Susilo"),
    ("Dewi Lestari", "Dewi Kartika"),
    ("Wayan", "I Wayan Sudarta"),
    ("Pak Budi", "Budi Santoso"),
    ("Sudarta", "Wayan Sudarta"),
    ("tidak tahu", "Tidak tahu"),
    ("Drs.", "Dr."),
    ("Kepala Dinas", "Kepala Desa"),
    (None, "Wayan Sudarta"),
])
def test_names_that_are_not(a: str | None, b: str) -> None:
    assert not names_match(a, b) and not names_match(b, a)


def test_titles_particles_and_old_spellings_are_set_aside() -> None:
    assert name_tokens("Drs. H. I Wayan Sudarta, S.Pd., M.Si.") == ("wayan", "sudarta")
    assert name_tokens("Raden Mas Soedjono Djojohadikoesoemo") == ("raden", "mas", "sujono", "jojohadikusumo")
    assert name_tokens("tidak tahu") == ()


@pytest.mark.parametrize("a, b, same", [
    ("Dinas Pendidikan Kabupaten Badung", "dinas pendidikan kab. badung", True),
    ("Dinas Pendidikan Provinsi Bali", "Disdik Prov. Bali", True),
    ("Dinas Pendidikan Provinsi Bali", "Dinas Pendidikan Provinsi Bali.", True),
    ("SMPN 1 Denpasar", "SMP N 1 Denpasar", True),
    ("SMPN 1 Denpasar", "SMPN 2 Denpasar", False),
    ("Dinas Kesehatan Kabupaten Badung", "Dinas Pendidikan Kabupaten Badung", False),
    ("Kecamatan Denpasar Barat", "Kecamatan Denpasar Timur", False),
    ("Kantor Kemenag Kab. Badung", "kantor kementerian agama kabupaten badung", True),
])
def test_agency_names(a: str, b: str, same: bool) -> None:
    assert agencies_match(a, b) is same


@dataclass
class World:
    db: Database
    engine: Engine
    store: EvidenceStore
    commands: StaffCommands
    reporters: int = 0

    async def file(self, report: Report, link: bool = True) -> Case:
        """A report filed, and (as the delivery worker does next) linked to related ones."""
        self.reporters += 1
        case = await file_report(self.engine, self.store, report, f"reporter-{self.reporters}")
        if link:
            await related.link_waiting(self.db, datetime.now(UTC).isoformat())
        return case

    async def links(self, case: Case) -> list[tuple[str, tuple[str, ...]]]:
        async with self.db.reading() as tx:
            return [(r.number, r.reasons) for r in await case_links.of_case(tx, case.id)]

    async def run(self, caller: Caller, name: str, args: str) -> StaffReply:
        reply = await self.commands.run(caller, name, args, f"cmd-{datetime.now().timestamp()}",
                                        datetime.now().astimezone().isoformat())
        assert reply is not None
        return reply


@pytest.fixture
async def world(backend: Backend) -> AsyncIterator[World]:
    db = await backend.open()
    async with db.transaction() as tx:
        await route_admin.add(tx, POLICY, "51.71", GROUP_A, by="test", at="2024-11-20T00:00:00+07:00")
        await route_admin.add(tx, POLICY, "51.03", GROUP_B, by="test", at="2024-11-20T00:00:00+07:00")
        await staff.add_moderator(tx, MODERATOR.user_id, "telegram:1", "2024-11-20T00:00:00+07:00")
    w = World(db, Engine(db, policy=POLICY), EvidenceStore.for_database(db, backend.evidence_dir),
              StaffCommands(db, POLICY, Desk(db, POLICY)))
    yield w
    await w.db.close()  # the test may have reopened it


RALLY = "Para camat ikut deklarasi paslon 1 di lapangan Puputan, memakai seragam dinas."


async def test_three_reports_of_one_rally_come_out_linked(world: World) -> None:
    first = await world.file(Report(person="Wayan Sudarta", agency_name="Kecamatan Denpasar Barat",
                                    incident="ikut_kampanye", occurred="19/11/2024", description=RALLY))
    second = await world.file(Report(person=None, agency_name="Kecamatan Denpasar Timur",
                                     incident="ikut_kampanye", occurred="20/11/2024", description=RALLY))
    third = await world.file(Report(person="Made Gunawan", agency_name="Kecamatan Denpasar Utara",
                                    incident="ikut_kampanye", occurred="21/11/2024", description=RALLY))
    other_type = await world.file(Report(person="Ketut Arsana", incident="media_sosial", occurred="20/11/2024"))
    assert await world.links(first) == sorted([(second.number, ("event",)), (third.number, ("event",))])
    assert await world.links(second) == sorted([(first.number, ("event",)), (third.number, ("event",))])
    assert await world.links(third) == sorted([(first.number, ("event",)), (second.number, ("event",))])
    assert await world.links(other_type) == []
    async with world.db.reading() as tx:
        trail = [(e.actor, e.kind, e.after, e.note) for e in await cases.events_of(tx, first.id) if e.kind == "related"]
        edits = [d.kind for d in await outbox.of_case(tx, first.id)]
    assert trail == [("system", "related", second.number, "event"), ("system", "related", third.number, "event")]
    assert "edit_case" not in edits, "no card of it was delivered yet, so none to refresh (see the Telegram test)"


async def test_a_card_shown_to_a_group_gets_one_waiting_edit_however_many_reports_follow(world: World) -> None:
    """Telegram lets a bot post 20 messages a minute to one group: a rally reported by 25
    people must not cost the group an edit of every earlier card for every new report."""
    first = await world.file(Report(person=None, incident="ikut_kampanye", occurred="19/11/2024", description=RALLY))
    async with world.db.transaction() as tx:
        [post] = await case_posts.of_case(tx, first.id)
        for card in await outbox.of_case(tx, first.id):
            await outbox.mark_sent(tx, card.id, "2024-11-20T01:00:00+00:00")
        await forwarding.post_delivered(tx, first.id, post.id, 777, "2024-11-20T01:00:00+00:00")

    async def waiting_edits() -> list[int]:
        async with world.db.reading() as tx:
            return [d.id for d in await outbox.of_case(tx, first.id)
                    if d.kind == "edit_case" and d.status == "pending"]

    [shows_diteruskan] = await waiting_edits()
    for _ in range(4):
        await world.file(Report(person=None, incident="ikut_kampanye", occurred="20/11/2024", description=RALLY))
    assert await waiting_edits() == [shows_diteruskan], "one waiting edit renders the case as it is when sent"
    async with world.db.transaction() as tx:  # the worker takes it: a later change needs an edit of its own
        taken = await outbox.lease_due(tx, "2030-01-01T00:00:00+00:00", "2030-01-01T00:01:00+00:00", 100,
                                       ["telegram"])
    assert shows_diteruskan in [d.id for d in taken]
    await world.file(Report(person=None, incident="ikut_kampanye", occurred="21/11/2024", description=RALLY))
    assert len(await waiting_edits()) == 2


async def test_a_rally_reported_by_many_links_each_report_to_a_handful(world: World) -> None:
    """Every report of one rally matches every earlier one: each submission would otherwise
    write O(N) links, events and card edits, and the card would list them all."""
    filed = [await world.file(Report(person=None, incident="ikut_kampanye", occurred="20/11/2024", description=RALLY))
             for _ in range(related.MAX_LINKS + 4)]
    latest = filed[-1]
    assert sorted(await world.links(latest)) == sorted((c.number, ("event",)) for c in filed[-1 - related.MAX_LINKS:-1])
    assert sorted(n for n, _ in await world.links(filed[0])) == sorted(c.number for c in filed[1:related.MAX_LINKS + 1])


async def test_related_reports_are_linked_after_the_submit_not_in_it(world: World, backend: Backend) -> None:
    """The search for related reports cost the submit step two thirds of its time, and the
    steps of everyone behind it waited (issue 14's p99): it now runs after the commit, from
    a mark in the database, so a restart in between loses nothing."""
    first = await world.file(Report(person=None, incident="ikut_kampanye", occurred="19/11/2024", description=RALLY))
    second = await world.file(Report(person=None, incident="ikut_kampanye", occurred="20/11/2024",
                                     description=RALLY), link=False)
    assert await world.links(second) == [], "the submit's own transaction links nothing"
    await world.db.close()  # a crash right after the submit
    world.db = await backend.open()
    assert await related.link_waiting(world.db, "2024-11-20T02:00:00+00:00") == 1
    assert await world.links(second) == [(first.number, ("event",))]
    assert await related.link_waiting(world.db, "2024-11-20T02:00:01+00:00") == 0, "each case once"


async def test_a_rally_more_than_three_days_apart_or_elsewhere_is_not_linked(world: World) -> None:
    first = await world.file(Report(person=None, incident="ikut_kampanye", occurred="14/11/2024"))
    later = await world.file(Report(person=None, incident="ikut_kampanye", occurred="18/11/2024"))
    elsewhere = await world.file(Report(person=None, region="badung", incident="ikut_kampanye", occurred="14/11/2024"))
    assert await world.links(first) == [] and await world.links(later) == [] and await world.links(elsewhere) == []


async def test_three_spellings_of_one_official_are_linked_by_name(world: World) -> None:
    spellings = ["Drs. I Wayan Sudarta, M.Si.", "Wayan Sudharta", "Sudarta I Wayan"]
    kinds = ["media_sosial", "fasilitas_negara", "mobilisasi"]
    days = ["01/11/2024", "08/11/2024", "15/11/2024"]
    filed = [await world.file(Report(person=name, incident=kind, occurred=day))
             for name, kind, day in zip(spellings, kinds, days, strict=True)]
    stranger = await world.file(Report(person="Made Sudarta", incident="atribut", occurred="11/11/2024"))
    for case in filed:
        assert await world.links(case) == sorted((c.number, ("name",)) for c in filed if c.id != case.id)
    assert await world.links(stranger) == []
    shown = (await world.run(MODERATOR, "lihat", filed[0].number)).text
    line = next(line for line in shown.splitlines() if line.startswith("Laporan terkait:"))
    assert line == "Laporan terkait: " + ", ".join(f"{n} (nama terlapor mirip)" for n in sorted(c.number for c in filed[1:]))


async def test_a_similar_name_needs_the_same_region_or_agency(world: World) -> None:
    first = await world.file(Report(person="Ketut Arsana", agency_name="Dinas Pendidikan Provinsi Bali",
                                    incident="media_sosial", occurred="01/11/2024"))
    same_agency = await world.file(Report(person="I Ketut Arsana", region="badung",
                                          agency_name="Dinas Pendidikan Provinsi Bali.",
                                          incident="atribut", occurred="10/11/2024"))
    same_region = await world.file(Report(person="Ketut Arsana", region="badung", agency_name="Kantor Camat Kuta",
                                          incident="atribut", occurred="16/11/2024"))
    other_province = await world.file(Report(person="Ketut Arsana", region="surabaya",
                                             agency_name="Dinas Pendidikan Provinsi Bali", incident="media_sosial",
                                             occurred="01/11/2024"))
    assert await world.links(first) == [(same_agency.number, ("name",))], \
        "another region and another agency: not the first one's official"
    assert await world.links(same_agency) == sorted([(first.number, ("name",)), (same_region.number, ("name",))])
    assert await world.links(same_region) == [(same_agency.number, ("name",))]
    assert await world.links(other_province) == []


async def test_an_identical_file_links_two_cases(world: World) -> None:
    photo = jpeg_with_gps(shade=10)
    first = await world.file(Report(person=None, incident="alat_peraga", occurred="01/11/2024",
                                    files=[("photo", photo, "image/jpeg")]))
    copy = await world.file(Report(person="Gede Wirawan", region="badung", incident="media_sosial",
                                   occurred="12/11/2024", files=[("photo", photo, "image/jpeg")]))
    assert await world.links(copy) == [(first.number, ("file",))]


async def test_an_identical_file_never_ties_a_hidden_reporter_to_a_named_one_before_officers(world: World) -> None:
    """Regression (attacker's review): a photo sent with an open report (name and phone on the
    card) and again with an Anonim one linked the two on the group's card, naming the
    Anonim reporter. Moderators still see the link; a group sees links of like reports."""
    photo = jpeg_with_gps(shade=11)
    named = await world.file(Report(identity="terbuka", name="Wayan Open", person=None, incident="alat_peraga",
                                    occurred="01/11/2024", files=[("photo", photo, "image/jpeg")]))
    hidden = await world.file(Report(identity="anonim", person="Gede Wirawan", incident="media_sosial",
                                     occurred="12/11/2024", files=[("photo", photo, "image/jpeg")]))
    also_open = await world.file(Report(identity="terbuka", name="Komang Lain", person=None, incident="foto_dukungan",
                                        occurred="20/11/2024", files=[("photo", photo, "image/jpeg")]))
    assert (named.number, ("file",)) in await world.links(hidden)
    async with world.db.reading() as tx:
        for case in (named, hidden):
            shown = [r.number for r in await related.visible(tx, case.id, Viewer.group(GROUP_A))]
            assert hidden.number not in shown and (case is named or shown == []), shown
        assert [r.number for r in await related.visible(tx, named.id, Viewer.group(GROUP_A))] == [also_open.number]
        assert hidden.number in [r.number for r in await related.visible(tx, named.id,
                                                                         Viewer.of(MODERATOR, Role.MODERATOR))]
    officer_view = (await world.run(FOCAL_A, "lihat", hidden.number)).text
    assert named.number not in officer_view and "Wayan" not in officer_view


async def test_a_focal_group_sees_links_only_to_cases_it_may_see(world: World) -> None:
    here = await world.file(Report(person="Ketut Arsana", agency_name="Dinas Pendidikan Provinsi Bali"))
    there = await world.file(Report(person="Ketut Arsana", region="badung",
                                    agency_name="Dinas Pendidikan Provinsi Bali", occurred="01/11/2024"))
    assert await world.links(here) == [(there.number, ("name",))]
    async with world.db.reading() as tx:
        assert await related.visible(tx, here.id, Viewer.group(GROUP_A)) == []
        assert [r.number for r in await related.visible(tx, there.id, Viewer.group(GROUP_B))] == []
        assert [r.number for r in await related.visible(tx, here.id, Viewer.of(MODERATOR, Role.MODERATOR))] == [
            there.number]
    officer_view = (await world.run(FOCAL_A, "lihat", here.number)).text
    assert "Laporan terkait" not in officer_view and there.number not in officer_view
    assert there.number in (await world.run(MODERATOR, "lihat", here.number)).text
    from bot.case_file import CaseFiles
    from flows.case.case_file import Order
    from tests.test_case_file import text_of

    made = await CaseFiles(world.db, world.store).make(Order(here.id, Viewer.group(GROUP_A), "telegram:3"))
    assert made is not None
    text = text_of(made.data)
    assert there.number not in text and "(kasus lain)" in text, "the audit trail hides the other group's case"


async def test_moderators_link_and_unlink_and_each_is_a_case_event(world: World) -> None:
    a = await world.file(Report(person="Gede Wirawan", incident="media_sosial", occurred="01/11/2024"))
    b = await world.file(Report(person="Putu Sari", region="badung", incident="atribut", occurred="12/11/2024"))
    assert await world.links(a) == []
    assert (await world.run(FOCAL_A, "kaitkan", f"{a.number} {b.number}")).text == \
        "Maaf, perintah itu tidak tersedia untuk Anda."
    assert (await world.run(MODERATOR, "link", f"{a.number} {b.number}")).text == \
        f"{a.number} dan {b.number} sekarang dikaitkan sebagai laporan terkait."
    assert (await world.run(MODERATOR, "kaitkan", f"{b.number} {a.number}")).text == \
        f"{b.number} dan {a.number} sudah dikaitkan."
    assert await world.links(a) == [(b.number, ("manual",))]
    assert f"{b.number} (dikaitkan oleh moderator)" in (await world.run(MODERATOR, "lihat", a.number)).text
    assert (await world.run(MODERATOR, "kaitkan", a.number)).text.startswith("Sebutkan dua nomor kasus")
    assert (await world.run(MODERATOR, "kaitkan", f"{a.number} LN-24-ZZZZZ")).text == "Tidak ada kasus LN-24-ZZZZZ."
    assert (await world.run(MODERATOR, "unlink", f"{a.number} {b.number}")).text == \
        f"{a.number} dan {b.number} tidak lagi dikaitkan."
    assert (await world.run(MODERATOR, "lepas_kaitan", f"{a.number} {b.number}")).text == \
        f"{a.number} dan {b.number} tidak dikaitkan."
    assert await world.links(a) == [] and "Laporan terkait" not in (await world.run(MODERATOR, "lihat", a.number)).text
    async with world.db.reading() as tx:
        for case, other in ((a, b), (b, a)):
            trail = [(e.actor, e.actor_name, e.kind, e.before, e.after) for e in await cases.events_of(tx, case.id)
                     if e.kind in ("link", "unlink")]
            assert trail == [("telegram:2", "Moderator", "link", None, other.number),
                             ("telegram:2", "Moderator", "unlink", other.number, None)]


def test_the_candidate_searches_use_indexes(tmp_path: Path) -> None:
    """A submission stays cheap on a large database: no candidate search reads the table."""
    import asyncio

    async def migrate() -> None:
        db = await Database.open(tmp_path / "plan.db")
        await db.close()

    asyncio.run(migrate())
    with sqlite3.connect(tmp_path / "plan.db") as conn:
        conn.execute("ANALYZE")
        plans = {
            "name": ("SELECT id FROM cases WHERE province_code = ? AND id < ? AND person_name IS NOT NULL"
                     " ORDER BY id DESC LIMIT 500", ("51", 10**6)),
            "event": ("SELECT id FROM cases WHERE region_code = ? AND incident_type = ?"
                      " AND occurred_on BETWEEN ? AND ? AND id != ? ORDER BY id DESC LIMIT 50",
                      ("51.71", "ikut_kampanye", "2024-11-16", "2024-11-22", 7)),
            "file": ("SELECT c.id FROM cases c WHERE c.id IN (SELECT o.case_id FROM evidence e JOIN evidence o"
                     " ON o.sha256 = e.sha256 WHERE e.case_id = ? AND e.sha256 IS NOT NULL AND o.case_id != ?)"
                     " ORDER BY c.id DESC LIMIT 50", (7, 7)),
        }
        for name, (sql, params) in plans.items():
            plan = " | ".join(str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "USING" in plan, (name, plan)
            assert "SCAN cases" not in plan.replace("SCAN cases USING", "") and "SCAN e" not in plan, (name, plan)
    source = Path(case_links.__file__).read_text()
    for fragment in ("province_code = ? AND id < ? AND person_name IS NOT NULL", "occurred_on BETWEEN ? AND ?",
                     "ON o.sha256 = e.sha256"):
        assert fragment in source, "the plans checked are the queries the code runs"


def test_the_strongest_matches_are_those_of_the_whole_list() -> None:
    """`strongest_matches` picks the ten before it builds a `Match` for each candidate: it
    keeps exactly what `strongest(match(...))` keeps, ties and all."""
    import random
    from types import SimpleNamespace

    rng = random.Random(14)
    names = ["Budi Santoso", "Drs. Budi Santosa", "I Wayan Sudarma", "Wayan Sudarma, S.Pd.", "Siti Aminah", None]
    for _round in range(60):
        pool = [case_links.Candidate(i, f"LN-{i}", rng.choice(["51.71", "51.03"]),
                                     rng.choice(["SMPN 1 Denpasar", "SMP Negeri 1 Denpasar", "Dinkes", None]),
                                     rng.choice(names), rng.choice(["media_sosial", "kampanye"]),
                                     f"2024-11-{rng.randint(10, 20)}", "2024-11-21T00:00:00+00:00")
                for i in range(1, rng.randint(2, 80))]
        case = SimpleNamespace(id=len(pool) + 1, person_name=rng.choice(names[:-1]), region_code="51.71",
                               agency_name="SMPN 1 Denpasar", incident_type="media_sosial", occurred_on="2024-11-15")
        by_event = [c for c in pool if rng.random() < 0.5]
        by_file = [c for c in pool if rng.random() < 0.2]
        limit = rng.choice([1, 3, 10])
        whole = related.strongest(related.match(case, pool, by_event, by_file), limit)  # type: ignore[arg-type]
        assert related.strongest_matches(case, pool, by_event, by_file, limit) == whole  # type: ignore[arg-type]
        assert len(whole) <= limit
