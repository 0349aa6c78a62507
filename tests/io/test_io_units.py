"""The I/O edge's small rules, one by one (the commands' tests show them end to end)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from simsales.errors import (
    EX_CANTCREAT,
    EX_IOERR,
    CannotCreateError,
    InputOutputError,
    ScenarioError,
)
from simsales.io import inputs, outputs


def test_the_limit_setting_must_be_a_positive_whole_number(monkeypatch) -> None:
    monkeypatch.setenv("SIMSALES_MAX_INPUT_BYTES", "5_000")
    assert inputs.max_input_bytes() == 5000
    with inputs.input_limit(7):
        assert inputs.max_input_bytes() == 7
    monkeypatch.setenv("SIMSALES_MAX_INPUT_BYTES", "lots")
    with pytest.raises(ScenarioError, match="not a whole number of bytes"):
        inputs.max_input_bytes()
    monkeypatch.setenv("SIMSALES_MAX_INPUT_BYTES", "0")
    with pytest.raises(ScenarioError, match="at least 1"):
        inputs.max_input_bytes()


def test_reading_a_missing_folder_or_unreadable_path_is_a_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        inputs.read_user_bytes(tmp_path / "nope.csv")
    with pytest.raises(ScenarioError, match="is a directory, not a CSV"):
        inputs.read_user_bytes(tmp_path, what="CSV")
    with pytest.raises(ScenarioError, match="is a directory"):
        inputs.check_user_file(tmp_path)
    with pytest.raises(ScenarioError, match="no such file"):
        inputs.check_user_file(tmp_path / "nope.csv")
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\n")
    with pytest.raises(ScenarioError, match=r"not valid UTF-8 \(byte 0xff on line 2\)"):
        inputs.read_user_text(tmp_path / "bad.txt")


def test_allowed_paths_nest_and_end_with_their_block(tmp_path: Path) -> None:
    base, other = tmp_path / "base", tmp_path / "other"
    base.mkdir()
    other.mkdir()
    assert inputs.resolve_inside("a.csv", base) == base / "a.csv"
    with pytest.raises(ScenarioError, match="outside the scenario's folder"):
        inputs.resolve_inside(str(other / "a.csv"), base)
    with inputs.allowed_paths([other]):
        assert inputs.resolve_inside("../other/a.csv", base) == base / "../other/a.csv"
    with pytest.raises(ScenarioError):
        inputs.resolve_inside("../other/a.csv", base)


@pytest.mark.parametrize(
    ("code", "kind", "exit_code", "words"),
    [
        (errno.ENOSPC, InputOutputError, EX_IOERR, "disk is full"),
        (errno.EACCES, CannotCreateError, EX_CANTCREAT, "cannot write there"),
        (errno.EROFS, CannotCreateError, EX_CANTCREAT, "cannot write there"),
        (errno.ENOENT, CannotCreateError, EX_CANTCREAT, "check the path"),
        (errno.EIO, InputOutputError, EX_IOERR, "writing failed"),
    ],
)
def test_os_errors_become_located_environment_errors(
    code: int, kind: type, exit_code: int, words: str
) -> None:
    error = outputs.environment_error(OSError(code, os.strerror(code)), Path("out/x"))
    assert isinstance(error, kind) and isinstance(error, OSError)
    assert error.exit_code == exit_code and words in str(error) and "out/x" in str(error)


def test_pyarrow_style_errors_without_errno_are_recognised() -> None:
    error = outputs.environment_error(OSError("IOError: No space left on device"), Path("o"))
    assert isinstance(error, InputOutputError) and "disk is full" in str(error)


def test_an_output_must_be_claimed_and_written_as_claimed(tmp_path: Path) -> None:
    out = outputs.claim(tmp_path / "a.txt", "file")
    with pytest.raises(RuntimeError, match="claim the output first"):
        out.write_bytes(b"x")
    with outputs.claim(tmp_path / "a.txt", "file") as claimed:
        with pytest.raises(RuntimeError, match="claimed as a file"):
            claimed.replace_dir(lambda folder: None)
        claimed.write_text("x")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "x"


def test_a_file_output_refuses_folders_and_special_files(tmp_path: Path) -> None:
    with pytest.raises(CannotCreateError, match="is a folder"):
        outputs.write_text(tmp_path, "x")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(CannotCreateError, match="not a regular file"):
            outputs.write_text(tmp_path / "pipe", "x")


def test_a_failing_check_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "s.yaml"
    target.write_text("old", encoding="utf-8")

    def refuse(tmp: Path) -> None:
        raise CannotCreateError("no")

    with pytest.raises(CannotCreateError, match="no"):
        outputs.write_text(target, "new", check=refuse)
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["s.yaml"]


def test_a_failing_fill_leaves_the_old_folder_and_no_temporary(tmp_path: Path) -> None:
    outputs.replace_dir(tmp_path / "d", lambda f: (f / "a").write_text("old", encoding="utf-8"))

    def broken(folder: Path) -> None:
        (folder / "a").write_text("half", encoding="utf-8")
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(InputOutputError, match="writing failed"):
        outputs.replace_dir(tmp_path / "d", broken)
    assert (tmp_path / "d" / "a").read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["d"]


def test_the_exchange_swaps_two_folders(tmp_path: Path) -> None:
    if outputs._renameat2() is None:
        pytest.skip("no renameat2 here")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1").touch()
    (tmp_path / "b").mkdir()
    assert outputs.exchange(tmp_path / "a", tmp_path / "b")
    assert os.listdir(tmp_path / "b") == ["1"] and os.listdir(tmp_path / "a") == []
    with pytest.raises(OSError):
        outputs.exchange(tmp_path / "a", tmp_path / "missing")
