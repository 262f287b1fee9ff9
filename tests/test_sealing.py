"""Issue 24: the sealing itself (`storage/sealing.py`), on its own: a value bound to its
column, a key id with every value, files in segments that fail when cut or reordered, keyed
names of evidence files, the key file made once and private, and keys that never show."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from storage import Database, sealing
from storage.evidence_files import EvidenceStore
from storage.sealing import SEGMENT_BYTES, DataKey, Keyring, KeyRow, KeySource, Tampered


def keyring(seed: bytes = b"\x01") -> Keyring:
    """A keyring with one values key, a lookup key and a digest key, as a database holds them."""
    data_key = DataKey(seed * 32)
    rows = [KeyRow(key_id, data_key.id, purpose, data_key.wrap(os.urandom(32), key_id, purpose), True, "2024")
            for key_id, purpose in (("0a0b0c0d", "values"), ("01020304", "lookup"), ("05060708", "digest"))]
    keys = Keyring(data_key)
    keys.load(rows)
    return keys


def test_a_value_opens_only_in_its_own_column_and_carries_its_key_id() -> None:
    keys = keyring()
    sealed = keys.seal(b"Siti Aminah", b"cases.reporter_name")
    assert b"Siti" not in sealed and keys.key_of(sealed) == "0a0b0c0d"
    assert keys.open(sealed, b"cases.reporter_name") == b"Siti Aminah"
    assert keys.seal(b"Siti Aminah", b"cases.reporter_name") != sealed, "a random nonce per value"
    with pytest.raises(Tampered):
        keys.open(sealed, b"cases.reporter_phone")
    changed = bytearray(sealed)
    changed[-1] ^= 1
    with pytest.raises(Tampered):
        keys.open(bytes(changed), b"cases.reporter_name")
    with pytest.raises(Tampered):
        keyring(b"\x02").open(sealed, b"cases.reporter_name")


def test_a_row_is_recalled_only_as_it_was_stored() -> None:
    """The related-reports search builds each earlier case once (`Keyring.recall`): a row
    stored differently (changed, or sealed again) is built anew, and one keyring's rows are
    not another's."""
    keys, built = keyring(), []

    def make(name: str) -> str:
        built.append(name)
        return name
    row = (1, "LN-24-AAAAA", keys.seal(b"Budi", b"cases.person_name"))
    assert keys.recall(row, lambda: make("a")) == keys.recall(row, lambda: make("b")) == "a"
    assert keys.recall((1, "LN-24-AAAAA", keys.seal(b"Budi", b"cases.person_name")), lambda: make("c")) == "c"
    assert keyring().recall(row, lambda: make("d")) == "d"
    assert built == ["a", "c", "d"]


def test_an_address_is_found_by_a_hash_only_its_installation_can_make() -> None:
    one, other = keyring(), keyring(b"\x02")
    assert one.lookup("730111222") == one.lookup("730111222") != one.lookup("730111223")
    assert one.lookup("730111222") != other.lookup("730111222")
    assert one.lookup("730111222") != hashlib.sha256(b"730111222").digest()


def test_a_data_key_that_wraps_nothing_here_is_refused() -> None:
    rows = [KeyRow("0a0b0c0d", DataKey(b"\x01" * 32).id, "values", b"x" * 60, True, "2024")]
    with pytest.raises(sealing.WrongKey):
        Keyring(DataKey(b"\x02" * 32)).load(rows)


def test_a_keyring_not_read_for_a_while_seals_nothing_except_while_a_database_opens() -> None:
    """A process that may have missed a rotation's new values key seals nothing; the work of
    opening a database (an old one sealed in place), which no rotation runs beside, may take
    longer than that."""
    keys = keyring()
    keys.refreshed -= sealing.STALE_SECONDS + 1
    with pytest.raises(sealing.KeyProblem, match="not read for a while"):
        keys.seal(b"Siti Aminah", b"cases.reporter_name")
    with pytest.raises(sealing.KeyProblem):
        keys.file_writer()
    with keys.pinned():
        assert keys.open(keys.seal(b"Siti", b"cases.reporter_name"), b"cases.reporter_name") == b"Siti"
        keys.file_writer()
    assert sealing.SETTLE_SECONDS > sealing.STALE_SECONDS + sealing.REFRESH_SECONDS, "a rotation outwaits it"


def _sealed_file(keys: Keyring, data: bytes, piece: int) -> bytes:
    sealer = keys.file_writer()
    out = b"".join(sealer.feed(data[i:i + piece]) for i in range(0, len(data), piece))
    return out + sealer.finish()


def _opened_file(keys: Keyring, stored: bytes, piece: int = 100_000) -> bytes:
    opener = keys.file_reader()
    out = b"".join(opener.feed(stored[i:i + piece]) for i in range(0, len(stored), piece))
    return out + opener.finish()


@pytest.mark.parametrize("size", [0, 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES + 17])
def test_a_file_streams_in_and_out_in_segments(size: int) -> None:
    keys = keyring()
    data = os.urandom(size)
    stored = _sealed_file(keys, data, 7919)
    assert len(stored) == sealing.sealed_size(size)
    assert _opened_file(keys, stored, 4096) == data
    assert _opened_file(keys, stored, len(stored) + 1) == data


def test_a_file_cut_short_reordered_or_changed_does_not_open() -> None:
    keys = keyring()
    data = os.urandom(3 * SEGMENT_BYTES + 100)
    stored = _sealed_file(keys, data, 65536)
    segment = SEGMENT_BYTES + 16
    head, body = stored[:sealing.FILE_HEADER], stored[sealing.FILE_HEADER:]
    parts = [body[i:i + segment] for i in range(0, len(body), segment)]
    cut_at_a_segment = head + b"".join(parts[:2])  # looks whole, but its last segment is not the final one
    reordered = head + parts[1] + parts[0] + b"".join(parts[2:])
    changed = bytearray(stored)
    changed[sealing.FILE_HEADER + 10] ^= 1
    for bad in (cut_at_a_segment, stored[:-1], reordered, bytes(changed), stored[:20]):
        with pytest.raises(Tampered):
            _opened_file(keys, bad)
    with pytest.raises(Tampered):
        _opened_file(keyring(b"\x02"), stored)


def test_a_rotation_rewraps_only_a_files_header() -> None:
    keys = keyring()
    data = os.urandom(SEGMENT_BYTES * 2)
    stored = _sealed_file(keys, data, 65536)
    header = keys.rewrap_header(stored[:sealing.FILE_HEADER], "0a0b0c0d")
    assert len(header) == sealing.FILE_HEADER and header != stored[:sealing.FILE_HEADER]
    assert _opened_file(keys, header + stored[sealing.FILE_HEADER:]) == data


def test_evidence_names_hide_the_files_hash_but_the_service_reads_them_back() -> None:
    keys = keyring()
    sha = hashlib.sha256(b"a photo").hexdigest()
    name = keys.file_name(sha)
    assert name == keys.file_name(sha) and sha not in name and len(name) == sealing.FILE_NAME_CHARS
    assert keys.sha_of_name(name) == sha
    assert keyring(b"\x02").sha_of_name(name) is None and keys.sha_of_name(sha) is None


async def test_the_store_keeps_files_sealed_under_keyed_names(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "lapor.db", checkpoint_every=None)
    try:
        store = EvidenceStore.for_database(db, tmp_path / "evidence")
        photo = b"\xff\xd8\xff\xfe Siti Aminah +6281234567890 " + os.urandom(200_000)
        stored = await store.put(photo)
        on_disk = [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]
        assert len(on_disk) == 1 and stored.sha256 not in str(on_disk[0])
        raw = on_disk[0].read_bytes()
        assert b"Siti" not in raw and len(raw) == sealing.sealed_size(len(photo))
        assert await store.get(stored.sha256) == photo
        assert b"".join([c async for c in store.stream(stored.sha256)]) == photo
        on_disk[0].write_bytes(raw[:-5])
        with pytest.raises(Tampered):
            await store.get(stored.sha256)
    finally:
        await db.close()


def test_the_key_file_is_made_once_private_and_keys_never_show(tmp_path: Path) -> None:
    source = KeySource(None, tmp_path / "data" / "lapor.key")
    assert source.read() is None
    made = source.create()
    assert stat.S_IMODE(source.file.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        source.create()
    again = source.read()
    assert again is not None and again.id == made.id
    text = source.file.read_text().strip()
    assert text not in repr(made) and text not in repr(keyring()) and "DigestKey(…)" == repr(keyring().digest_key)
    source.file.write_text("not a key")
    with pytest.raises(sealing.KeyProblem, match="is not a data key") as problem:
        source.read()
    assert problem.value.problem == "malformed" and "not a key" not in str(problem.value)


async def test_nothing_in_the_service_opens_a_database_unsealed(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "lapor.db", checkpoint_every=None)
    try:
        assert db.keys.sealed
    finally:
        await db.close()
    with sealing.unsealed_for_tests():
        plain = await Database.open(tmp_path / "plain.db", checkpoint_every=None)
        await plain.close()
    assert not plain.keys.sealed and not sealing.unsealed()
