"""How a worker reads a raw file and writes a stored one: never through a symbolic link
leading out of the source folder (a file swapped after ingest included), never blocked by
a FIFO, reject details the same on every run, no short write left unfinished."""

from __future__ import annotations

import io
import os
import re
import threading
from pathlib import Path

import pytest

from tests.conftest import encode, radiograph
from unimed_kedro.imaging import normalize
from unimed_kedro.imaging.normalize import error_text, process_one
from unimed_kedro.imaging.options import NormalizeOptions

PARAMS = {"image_size": 128, "validation": {"default": {"min_side": 100, "min_bytes": 100}}}
OPTIONS = NormalizeOptions.from_params(PARAMS)
LINKS = NormalizeOptions.from_params({**PARAMS, "allow_symlinks": True})
JPEG = encode(radiograph())


@pytest.fixture
def layout(tmp_path) -> dict[str, Path]:
    """raw/src (a source folder) with a/x.jpg; raw/sibling and outside/ next to it."""
    root = tmp_path / "raw" / "src"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.jpg").write_bytes(JPEG)
    (tmp_path / "raw" / "sibling").mkdir()
    (tmp_path / "raw" / "sibling" / "y.jpg").write_bytes(encode(radiograph(seed=1)))
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.jpg").write_bytes(encode(radiograph(seed=2)))
    return {"root": root, "tmp": tmp_path}


def _swap_for_link(path: Path, target: Path) -> None:
    """What an attacker (or a careless sync) does between ingest and normalize."""
    path.unlink()
    path.symlink_to(target)


def test_plain_file_is_read(layout):
    root = layout["root"]
    assert process_one(str(root / "a" / "x.jpg"), "s", OPTIONS, str(root))[1]["status"] == "ok"


@pytest.mark.parametrize("target", ["outside/secret.jpg", "raw/sibling/y.jpg"])
def test_file_swapped_for_a_link_leading_outside_is_not_read(layout, target):
    root, path = layout["root"], layout["root"] / "a" / "x.jpg"
    _swap_for_link(path, layout["tmp"] / target)
    encoded, row = process_one(str(path), "s", OPTIONS, str(root))
    assert encoded is None and row["status"] == "outside_raw_root"
    assert row["detail"] == "x.jpg is reached through a symbolic link leading outside src/"
    assert "sha256" not in row  # not a byte of it was read


def test_folder_swapped_for_a_link_leading_outside_is_not_read(layout):
    root, tmp = layout["root"], layout["tmp"]
    (tmp / "outside" / "x.jpg").write_bytes(JPEG)
    (root / "a" / "x.jpg").unlink()
    (root / "a").rmdir()
    (root / "a").symlink_to(tmp / "outside")
    encoded, row = process_one(str(root / "a" / "x.jpg"), "s", OPTIONS, str(root))
    assert encoded is None and row["status"] == "outside_raw_root"
    assert "sha256" not in row


def test_link_that_stays_in_the_source_folder_is_read(layout):
    root = layout["root"]
    (root / "b.jpg").symlink_to(root / "a" / "x.jpg")
    assert process_one(str(root / "b.jpg"), "s", OPTIONS, str(root))[1]["status"] == "ok"


def test_links_are_followed_when_allowed(layout):
    """`allow_symlinks: true`: DVC's symlink cache makes every raw file a link outside."""
    root, path = layout["root"], layout["root"] / "a" / "x.jpg"
    _swap_for_link(path, layout["tmp"] / "outside" / "secret.jpg")
    assert process_one(str(path), "s", LINKS, str(root))[1]["status"] == "ok"


def test_fifo_does_not_block_the_worker(layout):
    path = layout["root"] / "a" / "x.jpg"
    path.unlink()
    os.mkfifo(path)
    result: list = []
    reader = threading.Thread(
        target=lambda: result.append(process_one(str(path), "s", OPTIONS, str(layout["root"]))),
        daemon=True,
    )
    reader.start()
    reader.join(timeout=5)
    assert result, "process_one blocked on a FIFO"
    assert result[0][1] == {"status": "missing_file", "detail": "x.jpg is no longer a regular file"}


def test_file_gone_since_ingest(layout):
    path = layout["root"] / "a" / "x.jpg"
    path.unlink()
    _, row = process_one(str(path), "s", OPTIONS, str(layout["root"]))
    assert row == {"status": "missing_file", "detail": "x.jpg disappeared after ingest"}


@pytest.mark.parametrize(
    "data",
    [b"this is no image at all" * 20, b"\x89PNG\r\n\x1a\n" + b"\x00" * 400],
    ids=["text", "png-signature"],
)
def test_decode_error_detail_has_no_address_and_is_stable(tmp_path, data):
    """Pillow names what it could not identify by its repr (`<_io.BytesIO object at
    0x7f...>`): a different detail on every run."""
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    details = {process_one(str(path), "s", OPTIONS)[1]["detail"] for _ in range(3)}
    assert len(details) == 1
    detail = details.pop()
    assert detail.startswith("cannot decode bad.png: ")
    assert not re.search(r"0x[0-9a-fA-F]{6,}", detail) and str(tmp_path) not in detail


def test_error_text_scrubs_reprs_and_paths():
    with open(os.devnull, "rb") as handle:
        err = OSError(f"cannot identify image file {object()!r} or {handle!r}")
    assert error_text(err, "x.png") == "OSError: cannot identify image file x.png or x.png"
    missing = FileNotFoundError(2, "No such file or directory", "/tmp/abs/x.png")
    assert error_text(missing, "x.png") == "FileNotFoundError: No such file or directory"
    assert error_text(ValueError("at 0xdeadbeef00"), "x") == "ValueError: at 0x?"


def test_short_writes_are_finished(tmp_path, monkeypatch):
    """`os.write` may write fewer bytes than asked (a full disk, a signal, a network
    filesystem); the stored image must still be complete."""
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:1000])))
    normalize._write(str(tmp_path / "x.jpg"), JPEG)
    monkeypatch.undo()
    assert (tmp_path / "x.jpg").read_bytes() == JPEG


def test_a_write_that_makes_no_progress_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "write", lambda fd, data: 0)
    with pytest.raises(OSError, match="short write"):
        normalize._write(str(tmp_path / "x.jpg"), JPEG)


def test_formats_outside_the_list_are_not_decoded(tmp_path):
    """Pillow's EPS reader would run Ghostscript on a raw file; only raster formats images
    are distributed in are opened."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(radiograph()).save(buffer, format="EPS")
    path = tmp_path / "film.eps"
    path.write_bytes(buffer.getvalue())
    _, row = process_one(str(path), "s", OPTIONS)
    assert row["status"] == "corrupt_image"
    assert row["detail"] == (
        "cannot decode film.eps: UnidentifiedImageError: cannot identify image file film.eps"
    )
