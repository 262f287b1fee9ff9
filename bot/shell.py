"""How the shell commands speak: one language per run (the operator's locale: `id` unless
`--lang en` or the environment's `LANG` says English), only their result on the screen
(libraries' warnings and errors, more with `--verbose`), one line and exit code 2 for bad
input, times in the service's zone with its name, and personal data written only to
private files (mode 0600) in a folder `.gitignore` covers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, NoReturn
from zoneinfo import ZoneInfo

from flows.i18n import LOCALES, N_, gettext_for, ngettext_for

OUTPUT_DIR = Path("exports")
"""Under the database's folder (`./data` by default, which `.gitignore` covers)."""
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class Refused(Exception):
    """Bad input: the message is one line naming the problem and the form expected. The
    command changed nothing and left no file; it exits with 2."""


def shell_locale(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """`--lang id|en` if given, else the first of LANGUAGE, LC_ALL, LC_MESSAGES and LANG
    that is set (gettext's order): English if it says English, otherwise Indonesian."""
    for index, word in enumerate(argv):
        if word.startswith("--lang="):
            return _locale_of(word.split("=", 1)[1]) or "id"
        if word == "--lang" and index + 1 < len(argv):
            return _locale_of(argv[index + 1]) or "id"
    environ = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return _locale_of(value.split(":")[0]) or "id"
    return "id"


def _locale_of(tag: str) -> str | None:
    base = tag.replace("_", "-").split("-")[0].split(".")[0].lower()
    return base if base in LOCALES else None


@dataclass
class Shell:
    """The voice of one shell command."""

    locale: str = "id"
    timezone: str = "Asia/Jakarta"
    verbose: bool = False
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)

    def __post_init__(self) -> None:
        self._ = gettext_for(self.locale)
        self.ngettext = ngettext_for(self.locale)
        self.zone = ZoneInfo(self.timezone)

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def warn(self, line: str) -> None:
        print(line, file=self.err, flush=True)

    def refuse(self, line: str) -> NoReturn:
        raise Refused(line)

    # --- times --------------------------------------------------------------------------

    def local(self, moment: str | datetime) -> datetime:
        value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(self.zone)

    def when(self, moment: str | datetime) -> str:
        """`2026-12-07 16:07 WIB`: to the minute, in the service's zone, with its name."""
        local = self.local(moment)
        return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"

    def day(self, text: str, option: str) -> date:
        """A date as the shell takes it (YYYY-MM-DD); anything else is refused in one line."""
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
        except ValueError:
            pass
        self.refuse(self._("{option}: \"{value}\" is not a date. Write it as YYYY-MM-DD, for example "
                           "2026-12-01.").format(option=option, value=text))

    def day_start(self, day: date) -> str:
        """The first moment of `day` in the service's zone, as stored (UTC)."""
        return datetime.combine(day, time(0), self.zone).astimezone(UTC).isoformat()

    def day_after(self, day: date) -> str:
        return self.day_start(day + timedelta(days=1))

    # --- private outputs ----------------------------------------------------------------

    def output_path(self, out: Path | None, data_dir: Path, name: str) -> Path:
        """`out` as given (a file), or `name` in the private output folder."""
        if out is not None:
            return out
        return private_dir(data_dir / OUTPUT_DIR) / name


def private_dir(path: Path) -> Path:
    """The folder, made if needed, readable by its owner only when we made it."""
    if not path.exists():
        path.mkdir(parents=True, mode=PRIVATE_DIR)
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    return path


@contextlib.contextmanager
def private_file(path: Path) -> Iterator[Path]:
    """A temporary file beside `path`, created with mode 0600 before anything is written
    to it; renamed to `path` when the block ends, deleted if it raises. A failed command
    leaves no half-written file, and personal data is never readable by others, not even
    while it is written (writers that reopen the file by name keep its mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.close(handle)
    os.chmod(temporary, PRIVATE_FILE)
    try:
        yield temporary
        os.chmod(temporary, PRIVATE_FILE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def write_private(path: Path, data: bytes) -> None:
    with private_file(path) as temporary:
        temporary.write_bytes(data)


# --- argparse in the shell's language, refusing in one line ---------------------------------

ARGPARSE_WORDS = (
    N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
    N_("the following arguments are required: %s"), N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("argument %(argument_name)s: %(message)s"),
    N_("expected one argument"), N_("invalid %(type)s value: %(value)r"),
)
"""argparse's own words, translated through our catalogs (`argparse` looks `_` up when
it speaks, so `use_language` can swap it)."""


def use_language(locale: str) -> None:
    """argparse's fixed words in the shell's language (Python ships no Indonesian)."""
    _ = gettext_for(locale)
    argparse._ = _  # type: ignore[attr-defined]  # argparse calls its module-level `_` at run time
    argparse.ngettext = lambda one, many, n: _(one if n == 1 else many)  # type: ignore[attr-defined]


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line naming the problem and pointing at --help, exit code 2."""

    def error(self, message: str) -> NoReturn:
        _ = argparse._  # type: ignore[attr-defined]
        self.exit(2, _("{prog}: {problem} (see {prog} --help)").format(prog=self.prog, problem=message) + "\n")


