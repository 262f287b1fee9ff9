"""Table-driven: Twilio's webhook form -> the flow event (courier's style), and plain
text rendering for WhatsApp."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.plain_text import render, split_text
from bot.whatsapp.payload import TwilioInbound, media_kind, to_event
from bot.whatsapp.sender import LOCATION_HINT
from flows.events import Command, Event, Forwarded, Location, Media, MediaItem, Text, Unsupported
from flows.replies import ChoicesReply, Option, TextReply

BASE = {"MessageSid": "SM1", "From": "whatsapp:+6281200000000", "NumMedia": "0"}
PHOTO = MediaItem("photo", "https://api.twilio.com/m/1", None, "image/jpeg", 10, "ab" * 32, "x.jpg")


@pytest.mark.parametrize(("form", "media", "expected"), [
    ({"Body": "Budi Santoso"}, [], Text("Budi Santoso")),
    ({"Body": "  2. "}, [], Text("  2. ")),  # numbers stay text: the flow maps them to the offered option
    ({"Body": "batal"}, [], Command("batal", "")),
    ({"Body": "BATAL"}, [], Command("batal", "")),
    ({"Body": "/kembali"}, [], Command("kembali", "")),
    ({"Body": "Batal kampanye karena hujan"}, [], Text("Batal kampanye karena hujan")),
    ({"Body": "status LN-24-7K3Q9"}, [], Command("status", "LN-24-7K3Q9")),
    ({"Body": "cek ln 24 7k3q9"}, [], Command("cek", "ln 24 7k3q9")),
    ({"Body": "Status kepegawaian PNS"}, [], Text("Status kepegawaian PNS")),
    ({"Body": "", "Latitude": "-8.65", "Longitude": "115.21", "Address": "Jl. Gatot Subroto"}, [],
     Location(-8.65, 115.21)),
    ({"Body": "", "NumMedia": "1"}, [PHOTO], Media((PHOTO,))),
    ({"Body": "ini buktinya", "NumMedia": "1"}, [PHOTO], Media((PHOTO,))),
    ({"Body": "", "NumMedia": "1", "MessageType": "audio"}, [], Unsupported("voice")),
    ({"Body": "", "NumMedia": "1"}, [], Unsupported("media")),
    ({"Body": "Ayo coblos paslon 2", "Forwarded": "true"}, [], Forwarded("Ayo coblos paslon 2")),
    ({"Body": "Ayo coblos", "Forwarded": "true", "FrequentlyForwarded": "true"}, [],
     Forwarded("Ayo coblos", frequently=True)),
])
def test_inbound_mapping(form: dict[str, str], media: list[MediaItem], expected: Event) -> None:
    assert to_event(TwilioInbound.from_form({**BASE, **form}), media) == expected


@pytest.mark.parametrize(("content_type", "kind"), [
    ("image/jpeg", "photo"), ("image/webp", "photo"), ("video/mp4", "video"),
    ("application/pdf", "document"), ("audio/ogg; codecs=opus", "audio"), ("audio/amr", "audio"), ("text/vcard", None),
])
def test_media_kinds(content_type: str, kind: str | None) -> None:
    assert media_kind(content_type) == kind


@pytest.mark.parametrize("form", [
    {"From": "whatsapp:+62812", "Body": "x"},                   # no MessageSid
    {**BASE, "NumMedia": "11"},                                  # more files than Twilio sends
    {**BASE, "Latitude": "91", "Longitude": "0"},                # not a place on Earth
    {**BASE, "NumMedia": "many"},
])
def test_unusable_forms_are_refused(form: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        TwilioInbound.from_form(form)


def test_media_urls_and_the_address() -> None:
    form = {**BASE, "NumMedia": "2", "MediaUrl0": "https://m/0", "MediaContentType0": "image/jpeg",
            "MediaUrl1": "https://m/1", "MediaContentType1": "application/pdf", "ProfileName": "Siti"}
    message = TwilioInbound.from_form(form)
    assert message.address == "+6281200000000"
    assert [(m.url, m.content_type) for m in TwilioInbound.media_of(form, message.num_media)] == [
        ("https://m/0", "image/jpeg"), ("https://m/1", "application/pdf")]


def test_choices_become_a_numbered_list_and_news_spells_out_the_command() -> None:
    question = ChoicesReply("Pilih:", (Option("a", "Satu"), Option("b", "Dua", "keterangan")), 3, "location")
    assert render(question, "id", LOCATION_HINT) == (
        "Pilih:\n  1. Satu\n  2. Dua - keterangan\n(Balas dengan angka 1–2.)\n"
        "(Untuk mengirim lokasi, ketuk 📎 lalu pilih Lokasi.)")
    news = ChoicesReply("Laporan Anda diterima.", (Option("status:LN-24-7K3Q9", "Cek status"),), 0)
    assert render(news, "id") == "Laporan Anda diterima.\n\nUntuk mengeceknya, kirim: status LN-24-7K3Q9"
    assert render(TextReply("halo"), "en") == "halo"


@pytest.mark.parametrize(("text", "limit", "parts"), [
    ("a" * 10, 10, ["a" * 10]),
    ("satu dua tiga empat", 9, ["satu dua", "tiga", "empat"]),
    ("para satu\n\npara dua", 12, ["para satu", "para dua"]),
    ("x" * 25, 10, ["x" * 10, "x" * 10, "x" * 5]),
])
def test_long_bodies_are_split_cleanly(text: str, limit: int, parts: list[str]) -> None:
    assert split_text(text, limit) == parts
    assert all(len(p) <= limit for p in split_text(text, limit))


def test_a_long_summary_fits_whatsapp() -> None:
    body = ("Uraian: " + "kata " * 700).strip()
    pieces = split_text(body, 1600)
    assert len(pieces) == 3 and all(len(p) <= 1600 for p in pieces)
    assert " ".join(pieces) == body
