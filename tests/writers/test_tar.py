import tarfile

import pytest

from unimed_kedro.writers.tar import TarShardWriter, _tarfile_header, member_header


def test_members_in_order_with_fixed_metadata(tmp_path):
    path = tmp_path / "a.tar"
    payloads = {"k1.jpg": b"x" * 700, "k1.json": b"{}", "k2.jpg": b"y" * 513}
    with TarShardWriter(path) as tar:
        for name, data in payloads.items():
            tar.add(name, data)
    with tarfile.open(path) as tar:
        assert [m.name for m in tar.getmembers()] == list(payloads)
        assert [tar.extractfile(m).read() for m in tar.getmembers()] == list(payloads.values())
        assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in tar.getmembers()} == {
            (0, 0, 0, "", 0o444)
        }


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


def test_bytes_equal_tarfile_whether_added_or_copied_from_files(tmp_path):
    """The direct writer must stay a plain USTAR archive: same bytes as `tarfile` writes."""
    import io

    payloads = {
        "a.jpg": b"\xff\xd8" * 400,
        "a.json": b'{"k": 1}',
        "d" * 60 + "/" + "b" * 90 + ".txt": b"t",
    }
    with TarShardWriter(tmp_path / "ours.tar") as tar:
        for name, data in payloads.items():
            tar.add(name, data)
    with tarfile.open(tmp_path / "ref.tar", "w", format=tarfile.USTAR_FORMAT) as ref:
        for name, data in payloads.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o444
            ref.addfile(info, io.BytesIO(data))
    assert (tmp_path / "ours.tar").read_bytes() == (tmp_path / "ref.tar").read_bytes()
    sources = []
    for i, data in enumerate(payloads.values()):
        sources.append(tmp_path / f"member-{i}")
        sources[-1].write_bytes(data)
    with TarShardWriter(tmp_path / "copy.tar") as tar:
        for name, source, data in zip(payloads, sources, payloads.values()):
            tar.add_file(name, str(source), len(data))
    assert (tmp_path / "copy.tar").read_bytes() == (tmp_path / "ref.tar").read_bytes()


@pytest.mark.parametrize(
    "name,size",
    [("a.jpg", 0), ("k" * 100, 8**11 - 1), ("é/ü.txt", 7), ("d" * 60 + "/" + "n" * 90, 513)],
)
def test_template_header_equals_tarfile(name, size):
    assert member_header(name, size) == _tarfile_header(name, size)
