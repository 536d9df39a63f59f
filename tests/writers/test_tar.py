import os
import tarfile

import pytest

from unimed_kedro.writers.atomic import remove_stale_temporaries
from unimed_kedro.writers.tar import TarShardWriter, _tarfile_header, member_header, read_member


def test_offsets_point_at_member_data(tmp_path):
    path = tmp_path / "a.tar"
    payloads = {"k1.jpg": b"x" * 700, "k1.json": b"{}", "k2.jpg": b"y" * 513}
    with TarShardWriter(path) as tar:
        where = {name: tar.add(name, data) for name, data in payloads.items()}
    for name, data in payloads.items():
        assert read_member(path, *where[name]) == data
    with tarfile.open(path) as tar:
        assert [m.name for m in tar.getmembers()] == list(payloads)
        assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in tar.getmembers()} == {
            (0, 0, 0, "", 0o444)}


def test_same_members_same_bytes(tmp_path):
    for name in ("a.tar", "b.tar"):
        with TarShardWriter(tmp_path / name) as tar:
            tar.add("k.txt", b"caption")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "a.tar"
    try:
        with TarShardWriter(path) as tar:
            tar.add("k.txt", b"caption")
            raise RuntimeError("killed")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_are_swept(tmp_path):
    (tmp_path / "x.tar.tmp-123").write_bytes(b"partial")
    (tmp_path / "keep.tar").write_bytes(b"done")
    (tmp_path / f"index.csv.tmp-{os.getpid()}").write_bytes(b"being written by this process")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"index.csv.tmp-{os.getpid()}",
                                                          "keep.tar"]


def test_bytes_equal_tarfile_and_ranges_copy_members(tmp_path):
    """The direct writer must stay a plain USTAR archive: same bytes as `tarfile` writes."""
    import io

    payloads = {"a.jpg": b"\xff\xd8" * 400, "a.json": b'{"k": 1}', "d" * 60 + "/" + "b" * 90 + ".txt": b"t"}
    with TarShardWriter(tmp_path / "ours.tar") as tar:
        where = {name: tar.add(name, data) for name, data in payloads.items()}
    with tarfile.open(tmp_path / "ref.tar", "w", format=tarfile.USTAR_FORMAT) as ref:
        for name, data in payloads.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o444
            ref.addfile(info, io.BytesIO(data))
    assert (tmp_path / "ours.tar").read_bytes() == (tmp_path / "ref.tar").read_bytes()
    with TarShardWriter(tmp_path / "copy.tar") as tar:
        for name in payloads:
            tar.add_range(name, str(tmp_path / "ours.tar"), *where[name])
    assert (tmp_path / "copy.tar").read_bytes() == (tmp_path / "ref.tar").read_bytes()


@pytest.mark.parametrize("name,size", [("a.jpg", 0), ("k" * 100, 8**11 - 1), ("é/ü.txt", 7),
                                       ("d" * 60 + "/" + "n" * 90, 513)])
def test_template_header_equals_tarfile(name, size):
    assert member_header(name, size) == _tarfile_header(name, size)
