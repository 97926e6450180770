"""The `stepline` command run as a subprocess: exit codes, stdout, and clear one-line errors (never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stepline.cli.main import _parser

_SCRIPT = Path(sys.executable).with_name("stepline")
STEPLINE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "stepline.cli.main"]

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"got.$": "$.a"}, "End": True}}}
FAIL = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "it broke"}}}
YEAR_WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 31_536_000, "Next": "T"},
                                        "T": {"Type": "Task", "Resource":
                                              "arn:aws:lambda:us-east-1:123456789012:function:shout", "End": True}}}
INVALID = {"StartAt": "Missing", "States": {"P": {"Type": "Pass"}}}
FUNCTIONS = "def shout(event, context):\n    return event['word'].upper()\n"


def stepline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STEPLINE, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name, document in (("pass", PASS), ("fail", FAIL), ("wait", YEAR_WAIT), ("invalid", INVALID)):
        (tmp_path / f"{name}.asl.json").write_text(json.dumps(document))
    (tmp_path / "malformed.asl.json").write_text('{"StartAt": "P", "States": {\n')
    (tmp_path / "input.json").write_text('{"a": [1, 2], "word": "hi"}')
    (tmp_path / "shouting.py").write_text(FUNCTIONS)
    (tmp_path / "broken_module.py").write_text("raise RuntimeError('broken at import')\n")
    (tmp_path / "mock.json").write_text(json.dumps({"StateMachines": {"pass": {"TestCases": {"Only": {}}}},
                                                    "MockedResponses": {}}))
    return tmp_path


@pytest.mark.parametrize(("definition", "code", "expected"), [
    pytest.param("pass", 0, {"status": "SUCCEEDED", "output": {"got": 7}, "error": None, "cause": None},
                 id="succeeded"),
    pytest.param("fail", 1, {"status": "FAILED", "output": None, "error": "Oops", "cause": "it broke"}, id="failed"),
])
def test_run_json_prints_one_object(files: Path, definition: str, code: int, expected: dict) -> None:
    done = stepline("run", f"{definition}.asl.json", "--input", '{"a": 7}', "--json", cwd=files)
    assert done.returncode == code, done.stderr
    assert done.stdout.count("\n") == 1
    assert json.loads(done.stdout) == expected
    assert done.stderr == ""


def test_run_input_file_functions_and_json_history_under_virtual_time(files: Path) -> None:
    done = stepline("run", "wait.asl.json", "--input", "@input.json", "--functions", "shouting", "--time-scale", "0",
                    "--json", "--history", cwd=files)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["status"], document["output"]) == ("SUCCEEDED", "HI")
    history = document["history"]
    assert [event["id"] for event in history] == list(range(1, len(history) + 1))
    assert history[0]["type"] == "ExecutionStarted"
    assert json.loads(history[0]["executionStartedEventDetails"]["input"]) == {"a": [1, 2], "word": "hi"}
    assert history[-1]["timestamp"] - history[0]["timestamp"] == pytest.approx(31_536_000)


def test_run_history_table(files: Path) -> None:
    done = stepline("run", "pass.asl.json", "--input", '{"a": "x"}', "--history", cwd=files)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["Status: SUCCEEDED", 'Output: {"got":"x"}']
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["ID", "TIME", "TYPE", "DETAIL"]
    rows = [line.split()[:3] for line in table[1:]]
    assert [(row[0], row[2]) for row in rows] == [
        ("1", "ExecutionStarted"), ("2", "PassStateEntered"), ("3", "PassStateExited"), ("4", "ExecutionSucceeded")]
    assert "name=P" in table[2]


def test_validate_ok_and_json(files: Path) -> None:
    done = stepline("validate", "pass.asl.json", cwd=files)
    assert (done.returncode, done.stdout) == (0, "OK\n")
    done = stepline("validate", "invalid.asl.json", "--json", cwd=files)
    assert done.returncode == 1
    response = json.loads(done.stdout)
    assert response["result"] == "FAIL" and not response["truncated"]
    assert {"MISSING_TRANSITION_TARGET", "SCHEMA_VALIDATION_FAILED"} <= {d["code"] for d in response["diagnostics"]}


def test_validate_warns_of_tasks_that_no_integration_of_the_configuration_serves(files: Path) -> None:
    definition = {"StartAt": "Shout", "States": {
        "Shout": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:shout", "Next": "Odd"},
        "Odd": {"Type": "Task", "Resource": "arn:aws:states:::nosuch:thing", "End": True}}}
    (files / "tasks.asl.json").write_text(json.dumps(definition))
    done = stepline("validate", "tasks.asl.json", "--functions", "shouting", cwd=files)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "WARNING NO_INTEGRATION at /States/Odd/Resource: No integration of this stepline serves the resource "
        "'arn:aws:states:::nosuch:thing': register a local function (--functions), mock it, route it (--routes) "
        "or configure its endpoint"]
    (files / "routes.json").write_text(json.dumps({"Routes": [{"State": "Odd", "Function": "shout"}]}))
    done = stepline("validate", "tasks.asl.json", "--routes", "routes.json", "--json", cwd=files)
    assert json.loads(done.stdout)["diagnostics"] == []


def test_validate_prints_diagnostics_with_code_and_location(files: Path) -> None:
    done = stepline("validate", "invalid.asl.json", cwd=files)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "ERROR MISSING_TRANSITION_TARGET at /StartAt: Missing 'Next' target: Missing" in lines
    assert any(line.startswith("ERROR SCHEMA_VALIDATION_FAILED at /States/P: ") for line in lines)


@pytest.mark.parametrize(("args", "code", "message"), [
    pytest.param(["run", "malformed.asl.json"], 1, "ERROR INVALID_JSON_DESCRIPTION at ", id="malformed-definition"),
    pytest.param(["run", "invalid.asl.json"], 1, "ERROR SCHEMA_VALIDATION_FAILED at /States/P", id="invalid-definition"),
    pytest.param(["run", "pass.asl.json", "--input", "{not json"], 2, "stepline: the input is not valid JSON",
                 id="input-not-json"),
    pytest.param(["run", "nowhere.asl.json"], 2, "stepline: cannot read definition nowhere.asl.json", id="missing-file"),
    pytest.param(["run", "pass.asl.json", "--mock-config", "mock.json", "--test-case", "Nope"], 2,
                 "stepline: The mock config has no test case 'Nope' for state machine 'pass'", id="missing-test-case"),
    pytest.param(["run", "pass.asl.json", "--functions", "no_such_module"], 2,
                 "stepline: cannot import the functions module no_such_module: No module named 'no_such_module'",
                 id="unimportable-functions"),
    pytest.param(["run", "pass.asl.json", "--functions", "broken_module"], 2,
                 "stepline: cannot import the functions module broken_module: RuntimeError: broken at import",
                 id="functions-module-raises"),
])
def test_bad_input_gives_a_clear_error_without_traceback(files: Path, args: list[str], code: int,
                                                         message: str) -> None:
    done = stepline(*args, cwd=files)
    assert done.returncode == code
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == ""
    first = done.stderr.splitlines()[0]
    assert first.startswith(message), done.stderr
    if code == 2:
        assert done.stderr.count("\n") == 1


def test_malformed_definition_diagnostic_stays_on_one_line(files: Path) -> None:
    done = stepline("validate", "malformed.asl.json", cwd=files)
    assert done.returncode == 1
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("ERROR INVALID_JSON_DESCRIPTION")


# ---------------------------------------------------------------------------------------------------------------
# Meta-test: every command has help


def _commands() -> list[str]:
    parser = _parser()
    subparsers = next(action for action in parser._actions if action.choices and isinstance(action.choices, dict))
    return sorted(subparsers.choices)


def test_cli_commands_are_known() -> None:
    assert {"run", "validate"} <= set(_commands())


@pytest.mark.parametrize("command", [pytest.param([], id="stepline"),
                                     *[pytest.param([name], id=name) for name in _commands()]])
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from stepline.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: stepline {' '.join(command)}".rstrip())
    for name in ([] if command else _commands()):
        assert name in out


def test_help_as_a_subprocess(tmp_path: Path) -> None:
    done = stepline("--help", cwd=tmp_path)
    assert done.returncode == 0 and "run" in done.stdout and "validate" in done.stdout
