"""Hostile or mistyped files given to the ``cspdet`` command end in one error line naming the
file (and line or key) and the cause: exit status 2, no traceback, nothing allocated first."""
import pytest

from tests.io.helpers import one_line_error, run_cli

NET = "[net]\nwidth={w}\nheight=64\nchannels=3\n[convolutional]\nfilters={f}\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
BOMB = 'a: &a ["lol", "lol"]\nb: &b [*a, *a]\nc: [*b, *b]\n'
MODEL = "name: m\nbackbone: {name: csppeleenet, width: 100000}\nneck: efm\n"
DEEP = "name: m\nbackbone: " + "[" * 100_000 + "]" * 100_000 + "\nneck: efm\n"  # ran with no output, ignoring SIGTERM

# name -> file contents (str or bytes); an argv item "@name" stands for that file's path
FILES = {
    "wide.cfg": NET.format(w=100000, f=16), "filters.cfg": NET.format(w=64, f=1000000000),
    "binary.cfg": bytes(range(256)) * 4, "wide.yaml": MODEL, "laughs.yaml": BOMB, "deep.yaml": DEEP,
    "nc.yaml": "train: images\nnc: 1000000000\n", "data.yaml": "train: images\nnames: [a]\n",
    "binary.names": b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "binary.txt": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
}
CASES = [
    (["info", "--cfg", "@wide.cfg"], ["wide.cfg:2: width=100,000 exceeds the cap of 8,192"]),
    (["info", "--cfg", "@filters.cfg"], ["filters.cfg:6: filters=1,000,000,000 exceeds the cap of 65,536"]),
    (["info", "--cfg", "@binary.cfg"], ["binary.cfg: not a text file"]),
    (["info", "--config", "@wide.yaml"], ["wide.yaml: the model would have", "parameters, over the cap"]),
    (["info", "--config", "@laughs.yaml"], ["laughs.yaml: not valid YAML (line 2): alias *a"]),
    (["info", "--config", "@deep.yaml"], ["deep.yaml: not valid YAML (line 2): nested deeper than 64 levels"]),
    (["export", "--weights", "@deep.yaml"], ["deep.yaml: not valid YAML (line 2): nested deeper"]),
    (["val", "--weights", "csppeleenet-efm-nano", "--data", "@nc.yaml"], ["nc.yaml: nc=1,000,000,000 exceeds"]),
    (["val", "--weights", "csppeleenet-efm-nano", "--data", "@laughs.yaml"], ["laughs.yaml: not valid YAML"]),
    (["train", "--data", "@data.yaml", "--hyp", "@laughs.yaml"], ["--hyp", "laughs.yaml", "alias *a"]),
    (["convert", "--cfg", "@wide.cfg", "--weights", "x.weights", "--names", "@binary.names", "-o", "o.pt"],
     ["binary.names: not a text file"]),
    (["detect", "--weights", "csppeleenet-efm-nano", "--source", "@binary.txt"], ["binary.txt: not a text file"]),
]


@pytest.mark.parametrize("argv,needles", CASES, ids=[" ".join(a[:3]).replace("@", "") for a, _ in CASES])
def test_hostile_file_is_one_error_line_naming_it(tmp_path, argv, needles):
    paths = {}
    for name, content in FILES.items():
        paths[name] = tmp_path / name
        (paths[name].write_bytes if isinstance(content, bytes) else paths[name].write_text)(content)
    r = run_cli(*(str(paths[a[1:]]) if a.startswith("@") else a for a in argv), cwd=tmp_path)
    assert r.returncode == 2
    one_line_error(r, *needles)
