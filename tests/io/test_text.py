"""detector.io.text: binary files and YAML alias bombs are one-line errors naming the file."""
import pytest

from detector.io.text import load_yaml, parse_yaml, read_text

BOMB = "\n".join(['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
                  *[f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]]) + "\n"


def test_text_files_read_and_binary_ones_are_refused(tmp_path):
    (tmp_path / "ok.txt").write_bytes("\ufeffa.jpg\nb.jpg\n".encode())
    assert read_text(tmp_path / "ok.txt") == "a.jpg\nb.jpg\n"
    (tmp_path / "png.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(ValueError, match=r"png.txt: not a text file \(it holds NUL bytes\)"):
        read_text(tmp_path / "png.txt")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(ValueError, match=r"latin.txt: not a text file \(byte 3 is not UTF-8\)"):
        read_text(tmp_path / "latin.txt")
    with pytest.raises(FileNotFoundError, match="none.txt: no such file"):
        read_text(tmp_path / "none.txt")


def test_nesting_up_to_the_cap_loads():
    from detector.io.text import MAX_DEPTH

    assert parse_yaml("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1), "s") is not None


def test_plain_yaml_loads_as_safe_load_would():
    assert parse_yaml("a: [1, 2.5, x]\nb: {c: null, d: true}\n", "s") == {"a": [1, 2.5, "x"], "b": {"c": None, "d": True}}


@pytest.mark.parametrize("text,match", [
    (BOMB, r"bomb.yaml: not valid YAML \(line 2\): alias \*a \(YAML aliases are not allowed\)"),
    ("base: &b {x: 1}\nother:\n  <<: *b\n", r"bomb.yaml: not valid YAML \(line 3\): alias \*b"),
    ("[" * 50000, r"bomb.yaml: not valid YAML \(line 1\): nested deeper than 64 levels"),
    ("a: " + "{a: " * 100000 + "1" + "}" * 100000, r"bomb.yaml: not valid YAML \(line 1\): nested deeper than 64"),
    ("x: 1\ny:\n" + "- " * 100000 + "z\n", r"bomb.yaml: not valid YAML \(line 3\): nested deeper than 64"),
    ("a: !!python/object:os.system x\n", r"bomb.yaml: not valid YAML \(line 1\)"),
])
def test_alias_bombs_deep_nesting_and_tags_are_refused_in_one_line(tmp_path, text, match):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as e:
        load_yaml(path)
    assert "\n" not in str(e.value)
