"""The architecture page names real modules, the README points to it, its commands are what CI
runs, its python snippets run as written, and its data recipe is the shipped model's."""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"


def test_every_module_the_architecture_page_names_exists():
    text = PAGE.read_text()
    named = set(re.findall(r"`((?:detector|demos)/[\w/.]+)`", text))
    assert len(named) >= 25, sorted(named)
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_the_page_covers_every_stage_package_and_the_readme_links_it():
    text = PAGE.read_text()
    for package in ("geometry", "runtime", "data", "engine", "models", "export", "io"):
        assert f"detector/{package}/" in text, package
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text()


def test_ci_runs_exactly_the_readme_commands():
    """Each command .ci/run runs is a line of the README's bash blocks: CI tests what users type."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    lines = {ln.strip() for block in blocks for ln in block.splitlines()}
    run = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines()
           if ln.strip() and not ln.startswith(("#", "set ", "cd "))]
    assert len(run) >= 2 and "-m cv_compat" in run[-1]
    assert not [ln for ln in run if ln not in lines], "in .ci/run but not in the README"


README = (ROOT / "README.md").read_text()
PY_BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def user_files(code: str, folder: Path) -> None:
    """The files a snippet names that a user brings (the official Darknet yolov4 files): the
    shared cfg, and weights of its exact size written here. Everything else is bundled."""
    if "yolov4.weights" not in code:
        return
    from detector.darknet import DarknetModel, save_weights
    from tests.conftest import missing_shared, shared_dir

    cfg = shared_dir() / "darknet" / "yolov4.cfg"
    if not cfg.is_file():
        missing_shared(f"{cfg} not found (set CSPDET_SHARED)")
    shutil.copy(cfg, folder / "yolov4.cfg")
    save_weights(DarknetModel(cfg), folder / "yolov4.weights")


@pytest.mark.parametrize("code", PY_BLOCKS, ids=[f"block{i}" for i in range(len(PY_BLOCKS))])
def test_every_readme_python_snippet_runs_as_written(code, tmp_path):
    """Each python block of the README, copied as it is into a fresh folder and run."""
    user_files(code, tmp_path)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                       env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    assert r.returncode == 0, r.stderr[-3000:]
    if "print(res)" in code:  # the Results repr: one short line
        assert r.stdout.startswith("Results(") and len(r.stdout.splitlines()) == 1 and len(r.stdout) < 200, r.stdout


def test_the_readme_has_its_python_snippets():
    assert len(PY_BLOCKS) >= 4 and any("Detector(" in b for b in PY_BLOCKS) and any(".track(" in b for b in PY_BLOCKS)


def synth_args(argv: list[str]) -> dict:
    from detector.cli import build_parser
    from detector.cli.synth import resolved_size

    args = build_parser().parse_args(["synth", "OUT", *argv])
    args.img_size = resolved_size(args)
    return {k: v for k, v in vars(args).items() if k not in ("out", "run", "command", "debug")}


def test_the_data_recipe_is_the_same_in_both_readmes_and_synths_defaults():
    """weights/README.md's ``cspdet synth`` command, the README's recipe flags and its plain
    ``cspdet synth data/shapes`` all make the data the shipped model's AP50 is measured on."""
    weights_readme = (ROOT / "weights" / "README.md").read_text()
    command = re.search(r"^cspdet synth (data/shapes .*)$", weights_readme, re.M).group(1)
    recipe = re.search(r"`(--train \d+ [^`]*)`", README).group(1)
    assert "`cspdet synth data/shapes`" in README
    documented = synth_args(shlex.split(command)[1:])
    assert documented == synth_args(shlex.split(recipe)) == synth_args([])
    assert documented["img_size"] == [128] and documented["train"] == 2000  # the shipped model's figure's data


def test_the_readme_is_a_front_door_under_300_lines():
    """Long notes and earlier figures live in docs/; the README stays short enough to read."""
    lines = README.splitlines()
    assert len(lines) < 300, f"README.md has {len(lines)} lines: move long notes into docs/"
    first_screen = "\n".join(lines[:25])
    assert ".venv/bin/cspdet detect" in first_screen and "-m pytest -q" in first_screen


def links(text: str) -> list[str]:
    """Relative markdown link targets (images included), without their #anchor."""
    found = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t.split("#", 1)[0] for t in found if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_every_docs_link_of_the_readme_resolves():
    targets = [t for t in links(README) if t.startswith("docs/")]
    assert len(targets) >= 12, targets
    missing = sorted({t for t in targets if not (ROOT / t).is_file()})
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_every_relative_link_between_the_docs_resolves():
    missing = [f"{page.name}: {t}" for page in sorted((ROOT / "docs").glob("*.md"))
               for t in links(page.read_text()) if t and not (page.parent / t).exists()]
    assert not missing, f"broken links in docs/: {missing}"


def readme_cli_lines() -> list[list[str]]:
    """Every ``cspdet ...`` line of the README's bash blocks, as argv (comment cut off)."""
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    lines = [ln.strip() for block in blocks for ln in block.splitlines()]
    return [shlex.split(ln, comments=True)[1:] for ln in lines if ln.startswith("cspdet ")]


def test_every_readme_cspdet_command_parses():
    """Each command of the README's bash blocks is one the CLI accepts (a renamed flag or command
    turns this red), and the README shows an example of every subcommand."""
    from detector.cli import COMMANDS, build_parser
    from detector.cli.parsing import parse

    argvs = readme_cli_lines()
    parser = build_parser()
    for argv in argvs:
        try:
            parse(parser, argv)
        except SystemExit:
            pytest.fail(f"README command does not parse: cspdet {shlex.join(argv)}")
    shown = {argv[0] for argv in argvs}
    assert not set(COMMANDS) - shown, f"README shows no example of: {sorted(set(COMMANDS) - shown)}"


DOC_PY_BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "models.md").read_text(), re.S)


@pytest.mark.parametrize("code", DOC_PY_BLOCKS, ids=[f"models{i}" for i in range(len(DOC_PY_BLOCKS))])
def test_the_models_page_python_snippets_run_as_written(code, tmp_path):
    """The snippet that loads official weights into the YAML twin moved from the README to
    docs/models.md; it still runs as written."""
    test_every_readme_python_snippet_runs_as_written(code, tmp_path)
