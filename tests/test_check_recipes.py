"""The CI recipes of docs/deployment.md, run as written in a temporary git repository.

The scripts are read from the document itself (the GitHub Actions step, the GitLab job's
script, the pre-commit hook's script), so the docs cannot drift from what is tested. Only the
`pip install` line is not run: the `onnxlayer` on PATH is this checkout (a shim to
`python -m onnxlayer`).

The repository: `main` holds the policy and models/a.onnx (the MLP 4→8→8→3, W = 139); the
branch `feature` widens it to 4→8→12→3 (W = 187, +34.5 % > the policy's 10 %) and adds a new
model whose path has a space.
"""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import yaml
from lxml import etree

from builders import mlp

DOC = Path(__file__).parent.parent / "docs" / "deployment.md"
SCHEMAS = Path(__file__).parent / "schemas"
POLICY = """version = 1
[[change]]
name = "parameter growth"
metric = "params"
max_increase = "10%"
[[no_opaque_leaves]]
name = "every operator understood"
"""


def code_block(caption: str) -> str:
    """The first fenced code block after the line that mentions `caption`."""
    text = DOC.read_text(encoding="utf-8")
    at = text.index(caption)
    match = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M).search(text, at)
    assert match, f"no code block after {caption}"
    return match.group(1)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True, check=True)
    return done.stdout


ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}


@pytest.fixture
def repo(tmp_path) -> tuple[Path, dict[str, str]]:
    """A clone on branch `feature` of a repository whose `main` has the policy and models/a.onnx."""
    origin = tmp_path / "origin"
    (origin / "models").mkdir(parents=True)
    git(origin, "init", "-q", "-b", "main")
    (origin / "onnxlayer-policy.toml").write_text(POLICY)
    onnx.save(mlp(), origin / "models" / "a.onnx")
    git(origin, "add", ".")
    git(origin, "commit", "-q", "-m", "models")
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    git(work, "checkout", "-q", "-b", "feature")
    onnx.save(mlp((4, 8, 12, 3)), work / "models" / "a.onnx")
    onnx.save(mlp((4, 2, 3)), work / "models" / "new model.onnx")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "widen a, add a new model")
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    shim = shim_dir / "onnxlayer"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m onnxlayer "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {**ENV, "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}"}
    return work, env


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    # what GitHub Actions and GitLab run a script with: bash, stop at the first failing command
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_github_actions_recipe(repo):
    work, env = repo
    workflow = yaml.safe_load(code_block(".github/workflows/onnxlayer-check.yml"))
    steps = workflow["jobs"]["onnxlayer-check"]["steps"]
    (step,) = [s for s in steps if s.get("name") == "onnxlayer check"]
    assert any(s.get("run") == "pip install onnxlayer onnxruntime" for s in steps)
    upload = steps[-1]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif")
    base = step["env"]["BASE"].replace("${{ github.base_ref }}", "main")
    done = bash(step["run"], work, {**env, "BASE": base})
    assert done.returncode == 1, done.stdout + done.stderr
    sarif = json.loads((work / upload["with"]["sarif_file"]).read_text())
    results = sarif["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("change/parameter-growth", "error")]
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/a.onnx"
    assert "params 139 → 187" in results[0]["message"]["text"]
    assert "no baseline: .baseline/models/new model.onnx does not exist (a new model)" in done.stdout

    # a change within the policy passes; no changed model at all passes too
    onnx.save(mlp((4, 8, 9, 3)), work / "models" / "a.onnx")  # W = 40 + 81 + 30 = 151: +8.6 %
    git(work, "commit", "-q", "-am", "narrower")
    done = bash(step["run"], work, {**env, "BASE": base})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  parameter growth: params 139 → 151" in done.stdout
    git(work, "checkout", "-q", "main")
    done = bash(step["run"], work, {**env, "BASE": base})
    assert done.returncode == 0 and "no model changed" in done.stdout


def test_gitlab_ci_recipe(repo):
    work, env = repo
    job = yaml.safe_load(code_block(".gitlab-ci.yml"))["onnxlayer-check"]
    script = list(job["script"])
    assert script.pop(0) == "pip install onnxlayer onnxruntime"
    done = bash("\n".join(script), work, {**env, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"})
    assert done.returncode == 1, done.stdout + done.stderr
    report = work / job["artifacts"]["reports"]["junit"]
    doc = etree.parse(str(report))
    etree.XMLSchema(etree.parse(str(SCHEMAS / "junit-10.xsd"))).assertValid(doc)
    suites = {s.get("name"): s for s in doc.getroot().findall("testsuite")}
    assert set(suites) == {"models/a.onnx", "models/new model.onnx"}
    failure = suites["models/a.onnx"].find("testcase[@name='parameter growth']/failure")
    assert failure is not None and "params 139 → 187" in failure.get("message")
    assert suites["models/new model.onnx"].find("testcase[@name='parameter growth']/skipped") is not None


def test_pre_commit_recipe(repo):
    work, env = repo
    config = yaml.safe_load(code_block(".pre-commit-config.yaml"))
    (hook,) = config["repos"][0]["hooks"]
    assert hook["language"] == "system" and re.search(hook["files"], "models/a.onnx")
    assert not re.search(hook["files"], "onnxlayer-policy.toml")
    script = work / hook["entry"]
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(code_block("`scripts/onnxlayer-check.sh`"))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    # pre-commit runs the entry with the staged files that match `files`
    staged = ["models/a.onnx", "models/new model.onnx"]
    done = subprocess.run([str(script), *staged], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  parameter growth: params 139 → 187" in done.stdout
    done = subprocess.run([str(script), staged[1]], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SKIP  parameter growth" in done.stdout
