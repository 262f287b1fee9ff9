"""Reports filed through the real engine, with chosen answers and real evidence files (the
bytes in the evidence store, the SHA-256 the flow records), for the case-file and
related-report tests."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import timedelta

from PIL import Image

from flows.engine import Engine
from flows.events import Inbound, Media, MediaItem
from storage import cases
from storage.cases import Case
from storage.evidence_files import EvidenceStore
from tests.chat import Chat


def jpeg_with_gps(width: int = 64, height: int = 48, shade: int = 90, noise: bool = False) -> bytes:
    """A phone photo: EXIF with the maker, the owner and the GPS position."""
    if noise:
        rng = random.Random(shade)
        image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (shade, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x013B] = "Siti Aminah"  # Artist: the owner's name, as some phones write it
    exif[0x8825] = {1: "S", 2: (8.0, 39.0, 0.0), 3: "E", 4: (115.0, 12.0, 36.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=92)
    return out.getvalue()


@dataclass
class Report:
    person: str | None = "Budi Santoso"
    region: str = "denpasar"
    agency_group: str = "pemda"
    agency_unit: str | None = "sekolah"
    agency_name: str | None = "SMPN 1 Denpasar"
    position: str | None = "Kepala Sekolah"
    status: str = "pns"
    incident: str = "media_sosial"
    occurred: str = "19/11/2024"
    place: str = "Ruang guru SMPN 1 Denpasar"
    pin: tuple[float, float] | None = (-8.65, 115.21)
    description: str = "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru."
    witnesses: str | None = "Dua guru honorer yang hadir di ruang guru"
    identity: str = "rahasia"
    name: str = "Siti Aminah"
    phone: str = "0812 3456 7890"
    files: list[tuple[str, bytes, str]] = field(default_factory=list)
    """(kind, bytes, mime) sent as one album."""


async def file_report(engine: Engine, store: EvidenceStore, report: Report, address: str,
                      channel: str = "test", wait_hours: int = 0) -> Case:
    chat = Chat(engine, address=address, channel=channel)
    chat.now += timedelta(hours=wait_hours)
    lines = ["halo", "@agree", report.region, f"@{report.agency_group}"]
    if report.agency_unit:
        lines.append(f"@{report.agency_unit}")
    lines.append(report.agency_name or "@unknown")
    lines.append(report.person or "@unknown")
    lines.append(report.position or "@skip")
    lines += [f"@{report.status}", f"@{report.incident}", report.occurred, "@same", report.place]
    lines.append(f"#loc {report.pin[0]},{report.pin[1]}" if report.pin else "@skip")
    lines += [report.description, report.witnesses or "@skip"]
    await chat.run(*lines)
    if report.files:
        items = []
        for n, (kind, data, mime) in enumerate(report.files):
            stored = await store.put(data)
            items.append(MediaItem(kind, f"{address}-file-{n}", f"{address}-u-{n}", mime,  # type: ignore[arg-type]
                                   stored.size, stored.sha256, f"IMG_{n}_Siti.jpg"))
        chat.counter += 1
        chat.now += timedelta(seconds=20)
        await engine.handle(Inbound(channel, address, f"{address}-media", Media(tuple(items)), chat.now, "id"))
        await chat.run("@done")
    else:
        await chat.run("@done", "@none")
    await chat.run(f"@{report.identity}")
    if report.identity != "anonim":
        await chat.run(report.name, report.phone)
    await chat.run("@send")
    assert "LN-" in chat.text(), chat.text()
    async with engine.db.reading() as tx:
        found = (await cases.recent(tx, 1))[0]
    return found
