"""The architecture page names real modules, and the README points to it."""
import re
from pathlib import Path

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
