"""The shell's commands for the data at rest: `keygen` (a new data key, the one command
that prints a key), `rotate-key` (every value and file sealed again under a new key, while
the service runs), `backup --out FILE` and `restore FILE`. What can go wrong with a key is
said in one line in the operator's language (`key_problem`), never showing a key."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bot.config import Settings
from bot.shell import Shell
from flows.i18n import N_

PROBLEMS = {
    "unreadable": N_("{setting} cannot be read ({detail})."),
    "malformed": N_("{setting} is not a data key: it must be url-safe base64 of 32 bytes, as "
                    "`python -m bot keygen` prints it."),
    "mismatch": N_("{setting} does not match this database."),
    "mismatch_backup": N_("{setting} does not match this backup: restore it with the key it was made with."),
    "unfinished": N_("{setting} does not match this database: a key rotation did not finish. Run "
                     "`python -m bot rotate-key` again."),
    "missing": N_("{setting} does not exist, and this database was sealed with a data key. Set DATA_KEY (or "
                  "DATA_KEY_FILE) to that key."),
    "missing_backup": N_("{setting} does not exist: set DATA_KEY (or DATA_KEY_FILE) to the key the backup was "
                         "made with."),
    "changed": N_("{setting} does not open this database's keys: were they changed?"),
    "needed": N_("DATABASE_URL needs DATA_KEY (or DATA_KEY_FILE): make one with `python -m bot keygen`."),
}


def key_problem(shell: Shell, exc: Exception) -> str:
    """One line for a `sealing.KeyProblem`, in the shell's language."""
    from storage.sealing import KeyProblem

    _ = shell._
    if not isinstance(exc, KeyProblem):
        return _("The data key cannot be used ({error}).").format(error=type(exc).__name__)
    problem = exc.problem + ("_backup" if exc.what == "backup" and f"{exc.problem}_backup" in PROBLEMS else "")
    if problem not in PROBLEMS:
        return str(exc)
    return _(PROBLEMS[problem]).format(setting=exc.setting, detail=exc.detail)


def keygen(shell: Shell) -> int:
    """A new data key on stdout, and nothing else (so `... keygen > key` works)."""
    from storage.sealing import new_data_key

    sys.stdout.write(new_data_key() + "\n")
    sys.stdout.flush()
    return 0


async def rotate_key(settings: Settings, shell: Shell) -> int:
    """Rotate to a new data key: NEW_DATA_KEY when the key comes from DATA_KEY (the operator
    then sets DATA_KEY to it), else a new key file made beside the old one, which takes the
    old one's place once every value is sealed again."""
    from storage import at_rest, sealing
    from storage.sealing import KeyProblem, WrongKey

    _ = shell._
    source = settings.key_source()
    pending = at_rest.pending_key_file(source)
    if source.value:
        if not settings.new_data_key:
            shell.refuse(_("NEW_DATA_KEY is not set: make a key with `python -m bot keygen`, set NEW_DATA_KEY to it "
                           "and run rotate-key again (then set DATA_KEY to it)."))
        new_key = sealing.DataKey(sealing.parse_data_key(settings.new_data_key.get_secret_value()))
    else:
        if not pending.exists():
            sealing.write_key_file(pending, sealing.new_data_key())
        try:
            read = sealing.KeySource(None, pending).read()
        except KeyProblem as exc:
            shell.refuse(key_problem(shell, exc))
        assert read is not None
        new_key = read
    old = source.read()
    if old is not None and old.id == new_key.id:
        shell.refuse(_("NEW_DATA_KEY is the key in use: make a new one with `python -m bot keygen`."))
    try:
        db = await settings.open_database(checkpoint_every=None)
    except WrongKey:
        if not source.value and await _finished(settings, pending):
            os.replace(pending, source.file)
            shell.say(_("The key rotation had finished: {file} now holds the new key ({key}).").format(
                file=source.file, key=new_key.id))
            return 0
        raise
    try:
        done = await at_rest.rotate(db, source, new_key, settings.evidence_dir,
                                    progress=shell.say if shell.verbose else lambda _line: None)
    finally:
        await db.close()
    shell.say(_("Sealed again under the new key ({key}): {values} values, {files} evidence files.").format(
        key=new_key.id, values=done.values, files=done.files))
    if source.value:
        shell.say(_("Only the new key opens the database now: set DATA_KEY to NEW_DATA_KEY's value before the "
                    "service starts again (running services keep working until then)."))
    else:
        os.replace(pending, source.file)
        shell.say(_("Only the new key opens the database now: {file} holds it.").format(file=source.file))
    return 0


async def _finished(settings: Settings, pending: Path) -> bool:
    """Whether the new key alone opens the database (a rotation that stopped before the key
    file was swapped)."""
    from storage import at_rest, sealing

    status = await at_rest.key_status(settings.database, sealing.KeySource(None, pending))
    return status.state == "opens"


async def backup(settings: Settings, shell: Shell, out: Path) -> int:
    from storage.backup import backup as write_backup

    _ = shell._
    if out.exists() and out.is_dir():
        shell.refuse(_("--out must be a file, not a folder: {path}.").format(path=out))
    db = await settings.open_database(checkpoint_every=None)
    try:
        written = await write_backup(db, settings.evidence_dir, out)
    finally:
        await db.close()
    if settings.database_url:
        shell.say(_("Backup written: {path} ({size}), a dump of the PostgreSQL database, its evidence included.")
                  .format(path=written.path, size=_size(written.size)))
    else:
        shell.say(_("Backup written: {path} ({size}): the database and {files} evidence files.").format(
            path=written.path, size=_size(written.size), files=written.files))
    shell.say(_("Everything in it is sealed. Keep the data key somewhere else than the backup: with the key beside "
                "it, a copy of the backup names every reporter."))
    return 0


async def restore(settings: Settings, shell: Shell, file: Path, force: bool) -> int:
    from storage.backup import BackupProblem
    from storage.backup import restore as put_back

    _ = shell._
    if not file.is_file():
        shell.refuse(_("{path} does not exist.").format(path=file))
    try:
        done = await put_back(file, settings.database, settings.evidence_dir, settings.key_source(), force)
    except BackupProblem as exc:
        messages = {
            "not_a_backup": _("{path} is not a backup made by `python -m bot backup`.").format(path=file),
            "other_backend": _("{path} is a backup of the other database (SQLite or PostgreSQL): set DATABASE_URL "
                               "(or unset it) as it was when the backup was made.").format(path=file),
            "target_not_empty": _("The database already holds cases: stop the service and add --force to replace "
                                  "it."),
        }
        if exc.problem in messages:
            shell.refuse(messages[exc.problem])
        raise
    db = await settings.open_database(checkpoint_every=None)  # migrated to this version, the key checked again
    await db.close()
    shell.say(_("Restored from {path} (key {key}).").format(path=file, key=done.key_id)
              + (" " + _("{files} evidence files.").format(files=done.files) if done.kind == "sqlite" else ""))
    return 0


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size} B"
