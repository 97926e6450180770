"""The wheel `python -m build` makes installs in a fresh virtualenv, its dependencies resolved from the package
registry, and serves the API and the console there with no checkout in sight (about a minute: the one test that
installs a whole environment)."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_in_a_fresh_virtualenv_and_serves_the_api_and_the_console(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: the build leaves nothing in the checkout, and sees none of its leftovers
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def run(*command: str | Path, timeout: float = 300) -> str:
        done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout,
                              env=environment, cwd=tmp_path)
        assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
        return done.stdout

    run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", source)
    [wheel] = (tmp_path / "dist").glob("stepline-*.whl")
    run(sys.executable, "-m", "venv", tmp_path / "venv")
    bin = tmp_path / "venv" / "bin"
    run(bin / "pip", "install", "--quiet", wheel, timeout=600)

    version = run(bin / "stepline", "--version")
    assert version.startswith("stepline ") and wheel.name.split("-")[1] in version
    assert run(bin / "python", "-m", "stepline", "--version") == version
    located = run(bin / "python", "-c", "import stepline; print(stepline.__file__)")
    assert located.startswith(str(tmp_path / "venv"))  # the installed package, not the checkout

    server = subprocess.Popen([bin / "stepline", "serve", "--port", "0", "--db", tmp_path / "stepline.db"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                              cwd=tmp_path)
    try:
        url = _announced(server)
        sfn = boto3.client("stepfunctions", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x", config=Config(retries={"total_max_attempts": 1}))
        sfn.create_state_machine(name="Installed", roleArn="arn:aws:iam::123456789012:role/r",
                                 definition='{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}')
        assert [m["name"] for m in sfn.list_state_machines()["stateMachines"]] == ["Installed"]
        with urllib.request.urlopen(f"{url}/", timeout=10) as page:
            assert page.status == 200 and "/console/static/app.js" in page.read().decode()
        with urllib.request.urlopen(f"{url}/console/static/app.js", timeout=10) as script:
            assert script.status == 200 and script.read()
    finally:
        server.terminate()
        server.wait(timeout=15)


def _announced(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([server.stdout], [], [], 0.2)[0]:
            line = server.stdout.readline()
            if line.startswith("stepline: Step Functions API on "):
                return line.split(" on ", 1)[1].strip()
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
    raise AssertionError("the installed stepline did not announce its address within 60 s")
