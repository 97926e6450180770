"""`stepline` given hostile options and files: each is refused in one line on stderr with a non-zero exit (2, as
argparse does, for bad usage), never a traceback and never a hang."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
from cli.test_cli import PASS, STEPLINE

from stepline.service.app import open_store
from stepline.service.definitions import MAX_DEFINITION_BYTES

DEEP = "[" * 100_000


def stepline(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command; a hang fails the test through TimeoutExpired."""
    return subprocess.run([*STEPLINE, *args], cwd=cwd, capture_output=True, text=True, timeout=20,
                          env={**os.environ, **(env or {})})


async def _create_store(path: Path) -> None:
    await (await open_store(str(path))).close()


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """A folder of good and bad things to point the CLI at."""
    (tmp_path / "pass.asl.json").write_text(json.dumps(PASS))
    (tmp_path / "latin1.asl.json").write_bytes('{"Comment": "café"}'.encode("latin-1"))
    with open(tmp_path / "huge.asl.json", "wb") as huge:  # sparse: refused by its size, never read
        huge.truncate(MAX_DEFINITION_BYTES + 1)
    (tmp_path / "big_input.json").write_text(json.dumps({"a": "x" * 300_000}))
    (tmp_path / "deep.json").write_text(DEEP)
    os.mkfifo(tmp_path / "fifo.asl.json")
    (tmp_path / "broken_module.py").write_text("raise RuntimeError('broken at import')\n")
    for folder, name, content in (("invalid", "bad", '{"StartAt": "Nowhere", "States": {}}'),
                                  ("good", "pass", json.dumps(PASS))):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{name}.asl.json").write_text(content)
    (tmp_path / "fifos").mkdir()
    os.mkfifo(tmp_path / "fifos" / "waiting.asl.json")
    asyncio.run(_create_store(tmp_path / "store.db"))
    return tmp_path


CASES = [
    # files: not regular, too large, unreadable, not UTF-8
    pytest.param(["validate", "/dev/zero"], {}, "definition /dev/zero is not a regular file", id="definition-device"),
    pytest.param(["validate", "fifo.asl.json"], {}, "definition fifo.asl.json is not a regular file",
                 id="definition-fifo"),
    pytest.param(["validate", "good"], {}, "definition good is not a regular file", id="definition-folder"),
    pytest.param(["validate", "huge.asl.json"], {}, "definition huge.asl.json is larger than 1048576 bytes",
                 id="definition-too-large"),
    pytest.param(["run", "latin1.asl.json"], {}, "definition latin1.asl.json is not UTF-8 text",
                 id="definition-not-utf8"),
    pytest.param(["validate", "pass.asl.json/x"], {}, "cannot read definition pass.asl.json/x: Not a directory",
                 id="definition-under-a-file"),
    pytest.param(["graph", "/dev/zero", "-o", "out.svg"], {}, "definition /dev/zero is not a regular file",
                 id="graph-definition-device"),
    pytest.param(["run", "pass.asl.json", "--input", "@/dev/zero"], {}, "input file /dev/zero is not a regular file",
                 id="input-device"),
    pytest.param(["run", "pass.asl.json", "--input", "@big_input.json"], {},
                 "input file big_input.json is larger than 262144 bytes", id="input-too-large"),
    pytest.param(["run", "pass.asl.json", "--input", "{not json"], {}, "the input is not valid JSON",
                 id="input-not-json"),
    pytest.param(["run", "pass.asl.json", "--input", DEEP], {}, "the input is not valid JSON", id="input-too-deep"),
    pytest.param(["run", "pass.asl.json", "--input", "@deep.json"], {}, "the input is not valid JSON",
                 id="input-file-too-deep"),
    pytest.param(["run", "pass.asl.json", "--mock-config", "/dev/zero"], {},
                 "mock config file /dev/zero is not a regular file", id="mock-config-device"),
    pytest.param(["serve", "--db", "s.db"], {"SFN_MOCK_CONFIG": "fifo.asl.json"},
                 "mock config file fifo.asl.json is not a regular file", id="serve-mock-config-fifo-from-environment"),
    # numbers: negative, zero, huge, not numbers
    *[pytest.param(["run", "pass.asl.json", "--time-scale", value], {}, "argument --time-scale: ",
                   id=f"time-scale-{value}") for value in ("1e300", "fast")],
    *[pytest.param(["serve", "--lease-seconds", value], {}, "argument --lease-seconds: ", id=f"lease-seconds-{value}")
      for value in ("0", "1e308")],
    *[pytest.param(["serve", "--poll-seconds", value], {}, "argument --poll-seconds: ", id=f"poll-seconds-{value}")
      for value in ("0", "inf")],
    pytest.param(["serve", "--request-timeout", "1e9"], {}, "argument --request-timeout: ", id="request-timeout-huge"),
    *[pytest.param(["serve", "--pool-size", value], {}, "argument --pool-size: ", id=f"pool-size-{value}")
      for value in ("1.5",)],
    pytest.param(["serve", "--max-connections", "0"], {}, "argument --max-connections: ", id="max-connections-0"),
    *[pytest.param(["serve", "--port", value], {}, f"argument --port: '{value}' is not a port from 1 to 65535",
                   id=f"port-{value}") for value in ("99999", "-1")],
    *[pytest.param(["executions", "--limit", value], {}, "argument --limit: ", id=f"limit-{value}")
      for value in ("0",)],
    *[pytest.param(["graph", "pass.asl.json", "-o", "out.png", "--scale", value], {}, "argument --scale: ",
                   id=f"graph-scale-{value}") for value in ("0", "nan")],
    pytest.param(["graph", "pass.asl.json", "-o", "out.png", "--scale", "1e9"], {}, "pixels cannot be drawn",
                 id="graph-scale-huge"),
    *[pytest.param(["serve", "--db", "s.db"], {name: value}, f"the environment variable {name}: ", id=name)
      for name, value in (("STEPLINE_LEASE_SECONDS", "abc"), ("LAMBDA_ENDPOINT", "nowhere"),
                          ("STEPLINE_JOB_POLL_SECONDS", "abc"))],
    pytest.param(["validate", "pass.asl.json"], {"WAIT_TIME_SCALE": "abc"}, "the environment variable WAIT_TIME_SCALE: ",
                 id="validate-WAIT_TIME_SCALE"),
    # stores: missing, in a missing folder, malformed or unreachable
    pytest.param(["executions", "--db", "missing/x.db"], {}, "cannot read the store missing/x.db: No such file",
                 id="executions-missing-store"),
    pytest.param(["execution", "run-1", "--db", "x.db"], {}, "cannot read the store x.db: No such file",
                 id="execution-missing-store"),
    pytest.param(["workers", "--db", "x.db"], {}, "cannot read the store x.db: No such file", id="workers-missing-store"),
    *[pytest.param(command, {"STEPLINE_DB": "missing/x.db"}, "cannot read the store missing/x.db: No such file",
                   id=f"{command[0]}-STEPLINE_DB") for command in (["executions"], ["execution", "run-1"], ["workers"])],
    pytest.param(["serve", "--db", "missing/s.db"], {}, "cannot create the store missing/s.db: there is no folder",
                 id="serve-store-in-missing-folder"),
    pytest.param(["run", "pass.asl.json", "--db", "missing/s.db"], {}, "cannot create the store missing/s.db",
                 id="run-store-in-missing-folder"),
    pytest.param(["db", "upgrade", "--db", "pass.asl.json/s.db"], {}, "cannot create the store pass.asl.json/s.db",
                 id="upgrade-store-under-a-file"),
    pytest.param(["serve", "--db", ""], {}, "the store location (--db) is empty", id="serve-empty-store"),
    pytest.param(["executions", "--db", "postgresql://[::1"], {}, "the store URL postgresql://[::1 is malformed",
                 id="postgres-url-malformed"),
    pytest.param(["serve", "--db", "postgresql://"], {}, "Not a PostgreSQL connection string", id="postgres-url-empty"),
    pytest.param(["workers", "--db", "postgresql://postgres@127.0.0.1:1/none"], {}, "Cannot open the store: ",
                 id="postgres-closed-port"),
    # --register, --functions, names and URLs
    pytest.param(["serve", "--register", "missing"], {}, "cannot read the --register folder missing: No such file",
                 id="register-missing-folder"),
    pytest.param(["serve", "--register", "pass.asl.json"], {}, "the --register folder pass.asl.json is not a folder",
                 id="register-a-file"),
    pytest.param(["serve", "--register", "invalid"], {}, "definition invalid/bad.asl.json is invalid",
                 id="register-invalid-definition"),
    pytest.param(["serve", "--register", "fifos"], {}, "definition fifos/waiting.asl.json is not a regular file",
                 id="register-fifo"),
    pytest.param(["serve", "--db", "s.db", "--functions", "broken_module"], {},
                 "cannot import the functions module broken_module: RuntimeError: broken at import",
                 id="serve-functions-module-raises"),
    pytest.param(["run", "pass.asl.json", "--db", "s.db", "--functions", "broken_module"], {},
                 "cannot import the functions module broken_module: RuntimeError: broken at import",
                 id="run-durable-functions-module-raises"),
    pytest.param(["serve", "--lambda-endpoint", "localhost:9001"], {}, "argument --lambda-endpoint: ",
                 id="lambda-endpoint-not-a-url"),
    pytest.param(["serve", "--worker-name", "two\nlines"], {}, "argument --worker-name: ", id="worker-name-newline"),
    pytest.param(["executions", "--db", "store.db", "--state-machine", "two\nlines"], {},
                 "no state machine two lines in store.db", id="message-with-a-line-break"),
    # usage
    pytest.param(["nonsense"], {}, "invalid choice: 'nonsense'", id="unknown-command"),
    pytest.param(["graph", "pass.asl.json"], {}, "the following arguments are required: -o/--output",
                 id="missing-option"),
]


@pytest.mark.parametrize(("args", "env", "message"), CASES)
def test_refused_in_one_line(place: Path, args: list[str], env: dict[str, str], message: str) -> None:
    done = stepline(*args, cwd=place, env=env)
    assert "Traceback" not in done.stderr + done.stdout
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.startswith("stepline") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr


@pytest.mark.parametrize("command", [["executions"], ["execution", "run-1"], ["workers"]])
def test_a_reading_command_creates_no_store(place: Path, command: list[str]) -> None:
    done = stepline(*command, "--db", "new/stepline.db", cwd=place)
    assert done.returncode == 2
    assert not (place / "new").exists()


def test_a_huge_limit_is_only_a_bound(place: Path) -> None:
    done = stepline("executions", "--db", "store.db", "--limit", str(10**30), "--json", cwd=place)
    assert (done.returncode, json.loads(done.stdout)) == (0, {"executions": []}), done.stderr


def test_a_store_may_be_created_in_an_existing_folder(place: Path) -> None:
    done = stepline("run", "pass.asl.json", "--input", '{"a": 1}', "--db", "good/new.db", "--json", cwd=place)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"] == {"got": 1}
    assert (place / "good" / "new.db").is_file()


def test_a_bug_is_said_in_one_line_too(place: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from stepline.cli import main

    def broken(definition: str) -> list:
        raise KeyError("States")

    monkeypatch.setattr(main, "diagnose", broken)
    assert main.main(["validate", str(place / "pass.asl.json")]) == 1
    assert capsys.readouterr().err == "stepline: unexpected KeyError (a bug in stepline): 'States'\n"


def test_a_server_that_cannot_start_says_why_in_one_line(place: Path) -> None:
    (place / "names").mkdir()
    (place / "names" / "not a name.asl.json").write_text(json.dumps(PASS))  # a valid definition, an invalid name
    done = stepline("serve", "--port", "0", "--db", "store.db", "--register", "names", cwd=place)
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == 1
    assert done.stderr == "stepline: cannot start: Invalid Name: 'not a name'\n"


HOSTILE_RUNS = {  # a definition `stepline run` runs -> the error it ends with
    "nested": ({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {
        "Type": "Pass", "End": True,
        "Output": "{% ($f := function($n) { $n = 0 ? 1 : {'a': $f($n - 1)} }; $f(300)) %}"}}}, "States.Runtime"),
    "regex": ({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {
        "Type": "Pass", "End": True, "Output": "{% $contains('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!', /^(a+)+$/) %}"}}},
        "States.QueryEvaluationError"),
    "wait": ({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}}, "States.Runtime"),
}


@pytest.mark.parametrize("name", HOSTILE_RUNS)
def test_run_ends_a_hostile_definition_with_its_error(place: Path, name: str) -> None:
    definition, error = HOSTILE_RUNS[name]
    (place / f"{name}.asl.json").write_text(json.dumps(definition))
    done = stepline("run", f"{name}.asl.json", "--input", '{"s": 1e300}', "--evaluation-seconds", "1", "--json",
                    cwd=place)
    assert "Traceback" not in done.stderr + done.stdout
    result = json.loads(done.stdout)
    assert (done.returncode, result["status"], result["error"]) == (1, "FAILED", error), done.stderr
