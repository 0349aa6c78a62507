"""Writing outputs so that a user's file is never lost and a result is never half there.

The rules, in the order a write goes through them (like git's and SQLite's):

1. **Claim** (:func:`claim`, before any long computation): the output is refused when it is the
   same file as an input (``os.path.samefile``) or a folder that holds an input; a folder is
   replaced only if it is empty or simsales made it (it holds the marker file :data:`MARKER`,
   or only the files of a forecast) and holds nothing simsales did not write, anything else
   needs ``force`` (a folder holding an input, not even then); the folder it goes in
   must let us create files, checked by taking the lock. So a read-only folder is reported
   before the simulation, not after it.
2. **Lock**: an advisory ``fcntl.flock`` on ``.NAME.lock`` beside the output, held from the
   claim to the end of the write. A second writer of the same output fails at once with
   :class:`TemporaryFailureError` (exit 75) naming the process that holds it. The lock file is
   removed on release (a waiter re-checks that the file it locked is still the lock file).
3. **Clean**: temporaries ``.NAME.tmp-PID-*`` and ``.NAME.old-PID-*`` left by killed writers
   of this output are removed (the lock guarantees none of them is being written).
4. **Write** into a fresh sibling ``.NAME.tmp-PID-RANDOM`` (same file system, so renames are
   atomic), created with the umask's permissions (``0o666``/``0o777`` less the umask, one mode
   policy for every output); every file and the folder are ``fsync``-ed.
5. **Swap in one step**: a file by ``os.replace``; a folder by ``renameat2(RENAME_EXCHANGE)``
   (Linux), which swaps the new and the old folder atomically, then the old one is removed.
   Where the exchange is unavailable (another OS, a file system without it) the folder is
   updated in place through a versioned sub-folder and a marker switch: the tables go into
   ``NAME/.v-RANDOM/``, then the marker (naming that sub-folder) replaces the old marker by
   ``os.replace``, which is the one atomic step; readers follow the marker
   (:func:`result_folder`). Either way an existing result is complete until the new one is.
   The parent folder is ``fsync``-ed after the swap.

Failures of the machine become :class:`EnvironmentFailureError` s with the output's name and what to
do: permission or read-only → exit 73, disk full or device errors → 74, a busy output → 75.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Literal

from simsales.errors import (
    CannotCreateError,
    EnvironmentFailureError,
    InputOutputError,
    SimsalesError,
    TemporaryFailureError,
)
from simsales.io.inputs import read_user_bytes

__all__ = [
    "MARKER",
    "Output",
    "checkpoint",
    "claim",
    "environment_error",
    "replace_dir",
    "result_folder",
    "write_bytes",
    "write_text",
]

MARKER = ".simsales-output"
_SWITCH = f"{MARKER}.tmp-"  # the next marker, before it replaces the current one
# temporaries of earlier versions: mkdtemp's ".NAME.XXXXXXXX" and ".NAME.old-PID" folders
_LEGACY_TMP = re.compile(r"[a-z0-9_]{8}|old-\d+")
Kind = Literal["file", "dir"]

# Called with a step's name at every step of a write; the fault-injection tests set it to
# kill the process there. None in normal use.
_on_step: Callable[[str], None] | None = None


def checkpoint(name: str) -> None:
    """Mark a step of a write (a no-op unless a test injects a fault there)."""
    if _on_step is not None:
        _on_step(name)


class Output:
    """A claimed output: checked, locked, and written by :meth:`write_bytes`/:meth:`replace_dir`.

    Use it as a context manager (see :func:`claim`); the lock is released on exit.
    """

    def __init__(
        self,
        path: str | Path,
        kind: Kind,
        *,
        force: bool = False,
        inputs: Iterable[str | Path | None] = (),
        legacy: Iterable[str] = (),
    ) -> None:
        self.path = Path(os.path.abspath(path))
        self.kind = kind
        self.force = force
        self.inputs = [Path(p) for p in inputs if p is not None]
        self.legacy = frozenset(legacy)  # file names of a folder simsales made before markers
        self._lock_fd: int | None = None
        self._lock_path = self.path.with_name(f".{self.path.name}.lock")

    # --- claim and release -------------------------------------------------------------------

    def __enter__(self) -> Output:
        self.check()  # before taking the lock: a refusal creates nothing
        self._lock()
        try:
            self.check()  # again under the lock: another writer may have changed it
            self._clean_stale()
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def check(self) -> None:
        """Refuse an output that is an input, a folder simsales did not make, or a non-file."""
        target = self.path
        for source in self.inputs:
            if not source.exists():
                continue
            if target.exists() and os.path.samefile(target, source):
                raise CannotCreateError(
                    f"{target}: this output is also an input ({source}); writing it would "
                    "destroy the input, so choose another output name"
                )
            if self.kind == "dir" and source.resolve().is_relative_to(target.resolve()):
                raise CannotCreateError(
                    f"{target}: this folder holds an input ({source}); replacing it would "
                    "delete the input, so choose another output folder"
                )
        if not os.path.lexists(target):
            return
        if self.kind == "file":
            if target.is_dir():
                raise CannotCreateError(f"{target} is a folder; give the name of a file to write")
            if not stat.S_ISREG(target.stat().st_mode):
                raise CannotCreateError(f"{target} is not a regular file; simsales writes files")
            return
        if not target.is_dir():
            raise CannotCreateError(
                f"{target} is a file, not a results folder; give a folder name to write"
            )
        foreign = self._foreign()
        if self.force or not foreign:
            return
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise CannotCreateError(
            f"{target} is a folder simsales did not make, or holds files it did not write "
            f"({len(foreign)}: {shown}); replacing it would delete them. Choose a new output "
            "folder, or pass --force to replace it anyway"
        )

    def _foreign(self) -> list[str]:
        """Entries of the existing folder that simsales did not write (none: it may go).

        Ours: an empty folder, or one with the marker (or, from before markers, with only
        the files of this kind of output) holding nothing but those files.
        """
        entries = set(os.listdir(self.path))
        ours = {MARKER, *self.legacy}
        versions = {e for e in entries if e.startswith((".v-", _SWITCH))}
        if MARKER not in entries and not (self.legacy and entries and entries <= self.legacy):
            return sorted(entries)
        if not self.legacy:  # no list of what this kind of output holds: the marker decides
            return []
        return sorted(entries - ours - versions)

    def _lock(self) -> None:
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise CannotCreateError(
                f"{self.path}: cannot create it: {parent} (or a folder above it) is a file"
            ) from None
        except OSError as exc:
            raise environment_error(exc, self.path) from None
        while True:
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as exc:
                raise environment_error(exc, self.path) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                raise TemporaryFailureError(
                    f"{self.path}: another simsales process (pid {holder}) is writing this "
                    "output now; wait for it to finish, or choose another output"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self._lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # else the holder removed it just before we locked: lock the new one
                break
            os.close(fd)
        with contextlib.suppress(OSError):  # who holds it, for the message; a full disk is fine
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self._lock_path)
        os.close(self._lock_fd)
        self._lock_fd = None

    def _clean_stale(self) -> None:
        """Remove temporaries of earlier, killed writers (we hold the lock: none is live)."""
        parent, name = self.path.parent, self.path.name
        for prefix in (f".{name}.tmp-", f".{name}.old-"):
            for entry in parent.glob(f"{_glob_escape(prefix)}*"):
                _remove(entry)
        if self.kind == "dir" and self.legacy:  # what earlier versions left behind
            for entry in parent.glob(f"{_glob_escape(f'.{name}.')}*"):
                rest = entry.name[len(name) + 2 :]
                if (
                    _LEGACY_TMP.fullmatch(rest)
                    and entry.is_dir()
                    and not entry.is_symlink()
                    and set(os.listdir(entry)) <= self.legacy
                ):
                    _remove(entry)
        if self.kind == "dir" and self.path.is_dir() and not self.path.is_symlink():
            current = _current_version(self.path)
            for entry in self.path.iterdir():
                if entry.name.startswith(_SWITCH) or (
                    entry.name.startswith(".v-") and entry.name != current
                ):
                    _remove(entry)

    # --- writing -----------------------------------------------------------------------------

    def _tmp(self) -> Path:
        return self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")

    def write_bytes(self, data: bytes, check: Callable[[Path], None] | None = None) -> Path:
        """Replace the file with ``data`` in one step; ``check`` may refuse the finished temp."""
        self._require("file")
        tmp = self._tmp()
        try:
            checkpoint("file: create temporary")
            _write_file(tmp, data)
            checkpoint("file: written and synced")
            if check is not None:
                check(tmp)
            os.replace(tmp, self.path)
            checkpoint("file: replaced")
            _fsync_dir(self.path.parent)
        except EnvironmentFailureError:
            _remove(tmp)
            raise
        except OSError as exc:
            _remove(tmp)
            raise environment_error(exc, self.path) from None
        except BaseException:
            _remove(tmp)
            raise
        return self.path

    def write_text(self, text: str, check: Callable[[Path], None] | None = None) -> Path:
        return self.write_bytes(text.encode("utf-8"), check)

    def replace_dir(self, fill: Callable[[Path], None], kind: str = "output") -> Path:
        """Fill a fresh folder with ``fill(folder)`` and swap it in for the output in one step.

        ``kind`` is recorded in the marker (e.g. ``forecast``). Files ``fill`` writes are
        synced here, so ``fill`` only writes them.
        """
        self._require("dir")
        target = self.path
        tmp = self._tmp()
        try:
            os.mkdir(tmp, 0o777)
            checkpoint("dir: create temporary")
            fill(tmp)
            checkpoint("dir: filled")
            _write_file(tmp / MARKER, _marker(kind))
            _fsync_tree(tmp)
            checkpoint("dir: synced")
            if not os.path.lexists(target):
                os.rename(tmp, target)
                checkpoint("dir: renamed into place")
                _fsync_dir(target.parent)
            elif exchange(tmp, target):
                checkpoint("dir: exchanged")
                _fsync_dir(target.parent)
                _remove(tmp)  # now the old result
                checkpoint("dir: old removed")
            else:
                self._switch_in_place(tmp, kind)
        except EnvironmentFailureError:
            _remove(tmp)
            raise
        except OSError as exc:
            _remove(tmp)
            raise environment_error(exc, target) from None
        except BaseException:
            _remove(tmp)
            raise
        return target

    def _switch_in_place(self, tmp: Path, kind: str) -> None:
        """The fallback without an atomic exchange: a versioned sub-folder, a marker switch."""
        target = self.path
        version = f".v-{secrets.token_hex(4)}"
        os.rename(tmp, target / version)  # a rename inside one file system: atomic
        checkpoint("fallback: version in place")
        _fsync_dir(target)
        switch = target / f"{_SWITCH}{os.getpid()}-{secrets.token_hex(4)}"
        _write_file(switch, _marker(kind, current=version))
        checkpoint("fallback: new marker written")
        os.replace(switch, target / MARKER)  # the one step that makes the new result current
        checkpoint("fallback: marker switched")
        _fsync_dir(target)
        for entry in target.iterdir():
            if entry.name not in (MARKER, version):
                _remove(entry)
        checkpoint("fallback: old removed")

    def _require(self, kind: Kind) -> None:
        if self._lock_fd is None:
            raise RuntimeError("claim the output first: with claim(path, ...) as out")
        if self.kind != kind:
            raise RuntimeError(f"this output was claimed as a {self.kind}")


def claim(
    path: str | Path,
    kind: Kind,
    *,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
    legacy: Iterable[str] = (),
) -> Output:
    """Check and lock an output for writing: ``with claim(out, "dir", inputs=[s]) as o: ...``.

    Claim before computing what goes in it, so a refused or unwritable output is reported
    before a long simulation.
    """
    return Output(path, kind, force=force, inputs=inputs, legacy=legacy)


def write_bytes(
    path: str | Path | Output,
    data: bytes,
    *,
    check: Callable[[Path], None] | None = None,
    inputs: Iterable[str | Path | None] = (),
) -> Path:
    """Claim ``path`` and replace it with ``data`` atomically (see the module docstring).

    ``path`` may be an :class:`Output` claimed earlier (then it is written as claimed).
    """
    if isinstance(path, Output):
        return path.write_bytes(data, check)
    with claim(path, "file", inputs=inputs) as out:
        return out.write_bytes(data, check)


def write_text(
    path: str | Path | Output,
    text: str,
    *,
    check: Callable[[Path], None] | None = None,
    inputs: Iterable[str | Path | None] = (),
) -> Path:
    """:func:`write_bytes` of ``text`` as UTF-8."""
    return write_bytes(path, text.encode("utf-8"), check=check, inputs=inputs)


def replace_dir(
    path: str | Path,
    fill: Callable[[Path], None],
    *,
    kind: str = "output",
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
    legacy: Iterable[str] = (),
) -> Path:
    """Claim the folder ``path`` and replace it by what ``fill(folder)`` writes, in one step."""
    with claim(path, "dir", force=force, inputs=inputs, legacy=legacy) as out:
        return out.replace_dir(fill, kind)


def result_folder(path: str | Path) -> Path:
    """Where the files of a folder written by :func:`replace_dir` are: the folder itself, or
    the versioned sub-folder its marker names (the fallback layout)."""
    folder = Path(path)
    current = _current_version(folder)
    return folder / current if current else folder


def environment_error(exc: OSError, target: Path) -> EnvironmentFailureError:
    """A plain, located message for an OS error while writing ``target``."""
    reason = exc.strerror or str(exc)
    code = exc.errno
    if code is None:  # pyarrow's errors carry the reason only in their text
        texts = {"No space left": errno.ENOSPC, "Permission denied": errno.EACCES}
        code = next((c for t, c in texts.items() if t in str(exc)), None)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return InputOutputError(
            f"{target}: the disk is full ({reason}); nothing was replaced. Free some space "
            "or write elsewhere, then run again"
        )
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CannotCreateError(
            f"{target}: cannot write there ({reason}); choose another output or make the "
            "folder writable"
        )
    if code in (errno.ENOENT, errno.ENOTDIR):
        return CannotCreateError(f"{target}: cannot create it ({reason}); check the path")
    return InputOutputError(f"{target}: writing failed ({reason}); nothing was replaced")


# --- the atomic exchange ---------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # the kernel or this file system cannot: use the fallback
    raise OSError(code, os.strerror(code), str(b))


_RENAMEAT2: list[object] = []


def _renameat2() -> Callable[..., int] | None:
    if not _RENAMEAT2:
        function = None
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(None, use_errno=True)
                function = libc.renameat2
                function.argtypes = [
                    ctypes.c_int,
                    ctypes.c_char_p,
                    ctypes.c_int,
                    ctypes.c_char_p,
                    ctypes.c_uint,
                ]
                function.restype = ctypes.c_int
        _RENAMEAT2.append(function)
    return _RENAMEAT2[0]  # type: ignore[return-value]


# --- small helpers ---------------------------------------------------------------------------


def _marker(kind: str, current: str | None = None) -> bytes:
    from importlib import metadata

    try:
        version = metadata.version("simsales")
    except metadata.PackageNotFoundError:
        version = "unknown"
    data: dict[str, str] = {"made_by": "simsales", "version": version, "kind": kind}
    if current is not None:
        data["current"] = current
    text = json.dumps(data, indent=2) + "\n"
    return text.encode()


def _current_version(folder: Path) -> str | None:
    try:  # a regular file of a few bytes: a crafted folder cannot make us hang or read much
        data = json.loads(read_user_bytes(folder / MARKER, 4096, what="marker file"))
    except (SimsalesError, OSError, ValueError):
        return None
    current = data.get("current") if isinstance(data, dict) else None
    ok = isinstance(current, str) and current.startswith(".v-") and "/" not in current
    return current if ok else None


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for root, dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for name in dirs:
            _fsync_dir(Path(root, name))
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot sync a folder; the data is synced
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
