"""The journals of ``wolkvox upload``: where each lives, what it remembers of its load, and
what a command may do with one (continue it, say it is done, forget it).

A journal's default name holds the campaign, the server (host[:port] of the base URL) and
a hash of the file's path, so the same command against another server or campaign is
another load with its own journal. A journal keeps the options that shape its load and the
file's size and SHA-256; a finished one is kept ``RETENTION`` days.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .._errors import WolkvoxError
from ..bulk import AlreadyLoaded
from ..bulk._journal import mismatch, read_meta, remove
from ..bulk._owner import JournalLock
from ._common import EXIT_USAGE, Settings, emit, err, fail

__all__ = [
    "DATA_OPTIONS",
    "RETENTION",
    "SHAPING",
    "already_loaded",
    "command_line",
    "default_journal",
    "fingerprint",
    "legacy_journal",
    "loaded_elsewhere",
    "options_changed",
    "prune",
    "restart_gate",
    "resumed",
    "same_load",
    "when",
]

RETENTION = 90
"""Days a finished load's journal is kept (it is what makes a second run send nothing)."""
SHAPING = ("format", "map", "type", "chunk_size", "skip_invalid", "encoding")
"""Options that decide which records go in which chunk: a resume must use the same."""
DATA_OPTIONS = ("format", "map", "type", "encoding")
"""Of those, the ones that decide what reaches the campaign (not only how it is cut)."""


def _file_key(file: Path) -> str:
    return hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]


def default_journal(state_dir: Path, server: str, campaign_id: str, file: Path) -> Path:
    """The journal of loading ``file`` into ``campaign_id`` on ``server``."""
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", server) or "server"
    return state_dir / "journals" / f"{campaign_id}-{slug}-{_file_key(file)}.journal"


def legacy_journal(state_dir: Path, campaign_id: str, file: Path) -> Path:
    """Where versions before 0.3 kept the journal (its name did not hold the server)."""
    return state_dir / "journals" / f"{campaign_id}-{_file_key(file)}.journal"


def command_line(base: list[str], options: dict[str, Any]) -> str:
    """``base`` (wolkvox upload C FILE [--journal J]) with the options of the load that are
    not the defaults: the command that does this load again, pasted as is."""
    words = list(base)
    if options["format"] != "auto":
        words += ["--format", options["format"]]
    for pair in options["map"]:
        words += ["--map", pair]
    if options["type"] != "predictive":
        words += ["--type", options["type"]]
    if options["chunk_size"] != 10_000:
        words += ["--chunk-size", str(options["chunk_size"])]
    if options["skip_invalid"]:
        words.append("--skip-invalid")
    if options["encoding"] != "utf-8":
        words += ["--encoding", options["encoding"]]
    return shlex.join(words)


def fingerprint(path: Path) -> dict[str, Any]:
    """The file's path, size and SHA-256 (what a finished load is checked against)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return {"path": str(path.resolve()), "size": path.stat().st_size, "sha256": digest.hexdigest()}


def prune(folder: Path, keep: Path) -> None:
    """Remove journals of loads that finished more than RETENTION days ago (never one a
    load holds, nor ``keep``)."""
    horizon = time.time() - RETENTION * 86_400
    for path in folder.glob("*.journal"):
        if path == keep:
            continue
        lock = JournalLock(path)
        try:
            if path.stat().st_mtime >= horizon or not (read_meta(path) or {}).get("finished"):
                continue
            lock.try_acquire()
            remove(path)
        except (OSError, sqlite3.Error, WolkvoxError):
            continue  # another load's business; never fail this one over it
        finally:
            lock.release()


def same_load(journal: Path, meta: dict[str, Any], where: dict[str, Any]) -> None:
    """Refuse (exit 2, nothing sent) a journal of another server, operation or campaign:
    its "finished" is not this load's."""
    differ = mismatch(meta.get("job") or {}, where)
    if differ is not None:
        fail(
            EXIT_USAGE,
            f"journal {journal} is of another load: its {differ}; nothing sent. Leave out "
            "--journal (each server and campaign gets its own), or give another path",
        )


def options_changed(given: dict[str, Any], stored: dict[str, Any], names: tuple[str, ...]) -> str:
    """The options among ``names`` whose value differs from the journal's, in words."""
    return "; ".join(
        f"--{name.replace('_', '-')} {given[name]!r} (the load used {stored[name]!r})"
        for name in names
        if name in stored and given[name] != stored[name]
    )


def restart_gate(
    settings: Settings, journal: Path, meta: dict[str, Any] | None, again: str, *, yes: bool
) -> bool:
    """Before ``--restart`` forgets a journal: if records of its load landed, sending them
    again needs ``--yes`` (or a yes at a terminal's prompt). True when the user agreed to
    send again what landed (the ledger's record of the load is then forgotten as well)."""
    if meta is None:
        return yes
    done = meta.get("finished") or {}
    landed = max(int(meta.get("landed") or 0), int(done.get("records_landed") or 0))
    unknown = int(meta.get("touched") or 0) and not landed
    if not landed and not unknown:
        return yes
    what = (
        f"the {landed:,} records this load landed"
        if landed
        else "the records of chunks whose outcome is unknown (they may have landed)"
    )
    question = (
        f"--restart sends again {what} in campaign {done.get('campaign_id') or '?'} "
        f"(journal {journal}): they would be in the campaign twice unless it was cleared"
    )
    if yes:
        return True
    if settings.json or not sys.stdin.isatty():
        fail(
            EXIT_USAGE,
            f"{question}. Nothing sent. If that is what you want, add --yes: {again} "
            "--restart --yes",
        )
    if not click.confirm(f"{question}. Send them again?", default=False, err=True):
        fail(EXIT_USAGE, f"nothing sent; the journal is kept ({journal})")
    return True


def when(text: str) -> str:
    """A journal's ISO time as the messages show it."""
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC")


def resumed(ctx: click.Context, given: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The stopped load's options; one given on the command line must agree with them."""
    names = {"format": "fmt", "map": "maps", "type": "kind"}
    for option in SHAPING:
        source = ctx.get_parameter_source(names.get(option, option))
        if option not in stored or source is click.core.ParameterSource.DEFAULT:
            continue
        if given[option] != stored[option] and not (option == "skip_invalid" and given[option]):
            fail(
                EXIT_USAGE,
                f"--{option.replace('_', '-')} {given[option]!r} differs from the stopped "
                f"load's {stored[option]!r}: leave it out to continue that load, or "
                "--restart to forget it",
            )
    # --skip-invalid may be added on resume: the rows before the bad one are unchanged.
    return {**given, **stored, "skip_invalid": stored.get("skip_invalid") or given["skip_invalid"]}


def already_loaded(
    settings: Settings,
    file: Path,
    campaign_id: str,
    meta: dict[str, Any],
    options: dict[str, Any],
    resume: bool,
) -> None:
    """A finished load run again: nothing sent; a changed file, or changed options that
    decide what reaches the campaign, are named (exit 2)."""
    done = meta["finished"]
    at = when(done["finished_at"])
    before = meta.get("input") or {}
    now = fingerprint(file)
    if before.get("size") != now["size"]:
        changed: str | None = f"its size was {before.get('size'):,} bytes, now {now['size']:,}"
    elif before.get("sha256") != now["sha256"]:
        changed = "its content differs (same size)"
    else:
        changed = None
    if changed is not None:
        fail(
            EXIT_USAGE,
            f"{file} changed since it was loaded into campaign {campaign_id} on {at} "
            f"({changed}); nothing sent. --restart to load it as a new load",
        )
    stored = meta.get("options") or {}
    differ = "" if resume else options_changed(options, stored, DATA_OPTIONS)
    if differ:
        fail(
            EXIT_USAGE,
            f"{file} was loaded into campaign {campaign_id} on {at} with other options: "
            f"{differ}; nothing sent. To load it with these options instead, --restart "
            "(it would send again what landed: --restart --yes)",
        )
    cut = "" if resume else options_changed(options, stored, ("chunk_size", "skip_invalid"))
    note = f" ({cut}: that changes nothing for a finished load)" if cut else ""
    err.print(
        f"already loaded {done['records_landed']:,} records into campaign {campaign_id} on "
        f"{at}; nothing sent (--restart to load again){note}",
        highlight=False,
        soft_wrap=True,
    )
    if settings.json:
        emit(settings, [{"records_landed": done["records_landed"], "already_loaded": at}])


def loaded_elsewhere(settings: Settings, found: AlreadyLoaded, again: str) -> None:
    """The ledger says another journal (another host's) finished loading this file."""
    at = "?" if found.at is None else f"{found.at:%Y-%m-%d %H:%M} UTC"
    landed = "?" if found.records_landed is None else f"{found.records_landed:,}"
    err.print(
        f"already loaded {landed} records into campaign {found.campaign_id} on {at} by pid "
        f"{found.pid} on host {found.host} (journal {found.journal}); nothing sent. To load "
        f"it again here (after clearing the campaign): {again} --restart --yes",
        highlight=False,
        soft_wrap=True,
    )
    if settings.json:
        row = {"records_landed": found.records_landed, "already_loaded": at}
        emit(settings, [{**row, "by": found.journal}])
