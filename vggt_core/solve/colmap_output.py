"""COLMAP's log kept out of the terminal: its detail in a log file beside the results, its warnings on stderr.

pycolmap logs through glog straight to the process's stderr (file descriptor 2), and every bundle adjustment sets
glog's flags back to "everything, to stderr too" (its ``OptionManager``), so ``pycolmap.logging``'s levels do not
hold: a solve printed two INFO lines per adjustment, dozens per shot. So each call into COLMAP runs inside
:func:`quiet_colmap`: during the call, file descriptor 2 goes to a temporary file; after it, COLMAP's lines go to
the log file named by :func:`colmap_log` (the command lines' ``OUT/colmap.log``), or nowhere without one, and every
line but COLMAP's INFO lines (its warnings and errors, and whatever else the process wrote meanwhile, in order)
goes back to stderr.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_GLOG = re.compile(r"[IWEF]\d{8} \d\d:\d\d:\d\d")  # glog's line: [IWEF]yyyymmdd hh:mm:ss.uuuuuu thread file:line] msg
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # glog colours its warnings even into a file
_lock = threading.RLock()  # file descriptor 2 is the whole process's: one capture at a time
_log: Path | None = None


@contextmanager
def colmap_log(path: str | Path | None) -> Iterator[None]:
    """Inside the block, COLMAP's log lines (every severity) are appended to ``path`` (created on the first line;
    None: dropped). The caller removes an old file first when the log must be one run's."""
    global _log
    previous, _log = _log, None if path is None else Path(path)
    try:
        yield
    finally:
        _log = previous


@contextmanager
def quiet_colmap() -> Iterator[None]:
    """Run a call into pycolmap with its log sorted: INFO lines to the :func:`colmap_log` file only, the rest
    (warnings, errors, other output) to stderr after the call. Does nothing where the process has no stderr."""
    with _lock, tempfile.TemporaryFile() as captured:
        saved = _redirect(captured.fileno())
        try:
            yield
        finally:
            if saved is not None:
                _flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                _sort(captured.read().decode("utf-8", "replace"))


def _flush() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # no sys.stderr (a windowed app), or a closed one
        pass


def _redirect(fd: int) -> int | None:
    """Point file descriptor 2 at ``fd``; returns a duplicate of the old one, or None without a stderr."""
    _flush()  # what Python wrote before the call stays before it
    try:
        saved = os.dup(2)
    except OSError:
        return None
    os.dup2(fd, 2)
    return saved


def _sort(text: str) -> None:
    colmap, terminal = [], []
    for line in _COLOUR.sub("", text).splitlines(keepends=True):
        glog = _GLOG.match(line) is not None
        if glog:
            colmap.append(line)
        if not (glog and line.startswith("I")):
            terminal.append(line)
    if colmap and _log is not None:
        try:
            with open(_log, "a", encoding="utf-8") as fh:
                fh.writelines(colmap)
        except OSError:  # the log is a courtesy: never the reason a solve fails
            pass
    if terminal and sys.stderr is not None:
        sys.stderr.write("".join(terminal))
        _flush()
