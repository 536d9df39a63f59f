from pathlib import Path

from unimed_kedro.sources.paths import resolve_inside


def test_resolve_inside_rejects_escapes(tmp_path: Path):
    assert resolve_inside(tmp_path, "a/b.jpg") == str(tmp_path / "a" / "b.jpg")
    assert resolve_inside(tmp_path, "../../etc/passwd") is None
    assert resolve_inside(tmp_path, "/etc/passwd") is None
    assert resolve_inside(tmp_path, "a/../../x.jpg") is None
    assert resolve_inside(tmp_path, "..") is None
