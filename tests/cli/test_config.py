"""`stepline serve --config FILE`: every option from a TOML file, below flags and environment variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stepline.cli.config import apply_config
from stepline.cli.main import _parser
from stepline.service.settings import Settings

from serving import StepLine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def parsed(argv: list[str]) -> dict:
    args = _parser().parse_args(argv)
    apply_config(args.command_parser, args, argv[1:], args.config)
    return vars(args)


def test_flags_win_over_the_environment_which_wins_over_the_file_which_wins_over_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "stepline.toml"
    config.write_text('port = 9001\ndb = "from-file.db"\nretention_days = 30\nlog-level = "info"\n'
                      'functions = ["orders", "payments"]\nassume-role = true\nlease_seconds = 12\n'
                      'allowed-hosts = ["a.example", "b.example"]\n')
    monkeypatch.setenv("STEPLINE_DB", "from-environment.db")
    monkeypatch.setenv("STEPLINE_LEASE_SECONDS", "")  # set but empty: as if unset
    monkeypatch.delenv("STEPLINE_RETENTION_DAYS", raising=False)
    monkeypatch.delenv("STEPLINE_ASSUME_ROLE", raising=False)
    args = parsed(["serve", "--config", str(config), "--port", "7000", "--functions", "flagged"])
    assert args["port"] == 7000  # the flag
    assert args["functions"] == ["flagged"]  # a repeatable flag replaces the file's list
    assert args["db"] is None  # STEPLINE_DB is set: the file's db is not applied, the environment's is read
    assert Settings.from_environment(db=args["db"]).db == "from-environment.db"
    assert (args["retention_days"], args["log_level"], args["assume_role"], args["lease_seconds"]) == \
        (30.0, "info", True, 12.0)  # the file, over the defaults
    assert args["allowed_hosts"] == ["a.example", "b.example"]
    assert args["host"] == "127.0.0.1" and args["max_connections"] == 10_000  # defaults


@pytest.mark.parametrize(("content", "says"), [
    pytest.param('colour = "blue"\n', "unknown key 'colour'", id="unknown-key"),
    pytest.param('config = "other.toml"\n', "unknown key 'config'", id="config-in-config"),
    pytest.param('port = "eighty"\n', "port: 'eighty' is not a port", id="bad-number"),
    pytest.param('retention-days = -1\n', "retention-days: '-1' is not a number of days", id="bad-days"),
    pytest.param('log_level = "loud"\n', "log_level must be one of", id="bad-choice"),
    pytest.param('assume_role = "yes"\n', "assume_role must be true or false", id="bad-switch"),
    pytest.param('[port]\nnumber = 1\n', "port must be text or a number", id="table"),
    pytest.param('port = \n', "is not TOML", id="not-toml"),
])
def test_a_bad_file_is_refused_in_one_line_naming_the_key(tmp_path: Path, content: str, says: str) -> None:
    config = tmp_path / "stepline.toml"
    config.write_text(content)
    done = subprocess.run([sys.executable, "-m", "stepline.cli.main", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert says in done.stderr and str(config) in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_server_runs_with_its_options_from_the_file(tmp_path: Path) -> None:
    config = tmp_path / "stepline.toml"
    config.write_text(f'register = "{EXAMPLES}"\nretention_days = 7\nfunctions = ["functions"]\n')
    server = StepLine.start(tmp_path / "stepline.db", options=["--config", str(config)],
                            environment={"PYTHONPATH": os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")])})
    try:
        names = {m["name"] for m in server.client().list_state_machines()["stateMachines"]}
        assert names == {path.name.split(".")[0] for path in EXAMPLES.glob("*.asl.json")}
    finally:
        server.stop()
