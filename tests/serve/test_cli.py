"""``cspdet serve``'s command line: one-line errors before anything starts, the warning for a
public address, and limits spelled out in --help."""
import pytest

from detector.cli import main

from .conftest import need


@pytest.mark.parametrize("argv, msg", [
    (["--stream", "no-equals"], "--stream 'no-equals': expected NAME=URL"),
    (["--stream", "a=0", "--stream", "a=1"], "--stream a: the name is given twice"),
    (["--stream", "cam=missing.mp4"], "--stream cam=missing.mp4: no such video file"),
    (["--stream", "cam=notes.txt"], "not a camera index"),
    (["--stream-file", "missing-streams.txt"], "missing-streams.txt: no such file"),
    (["--port", "70000"], "--port"),
    (["--max-batch", "0"], "--max-batch"),
])
def test_bad_arguments_are_one_line(argv, msg, capsys):
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err, err


def test_a_public_address_warns_before_anything_starts(capsys, tmp_path):
    need("fastapi", "uvicorn")
    assert main(["serve", "--host", "0.0.0.0", "--weights", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err
    assert "warning: --host 0.0.0.0 listens beyond this machine" in err and "no --api-key" in err
    assert "missing.pt" in err.splitlines()[-1]


def test_help_states_the_limits(capsys):
    assert main(["serve", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("largest request body, in bytes (default: 20000000)", "(default: 16777216)",
                  "images in the service at once; more: 503 (default: 32)", "queue x (max-bytes + 3 x max-pixels)",
                  "(default: 127.0.0.1, this machine only)", "CORS off", "$CSPDET_API_KEY", "exit 0"):
        assert shown in text, shown


def test_the_command_line_needs_no_web_package():
    import subprocess
    import sys

    code = ("import sys; from detector.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'httpx') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr
