"""Schedules of templates served by real `stepline serve` processes on the real clock: each due time starts one
execution across SIGKILLs (SQLite) and with two workers on one PostgreSQL database; `stepline schedules` lists,
pauses and resumes them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from serving import StepLine
from support import fresh_schema

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ticks"


def template(folder: Path, first: datetime, count: int) -> Path:
    """A state machine with `count` at() schedules a second apart from `first`, and a daily rule."""
    lines = ["Transform: AWS::Serverless-2016-10-31", "Resources:",
             "  Ticks:", "    Type: AWS::Serverless::StateMachine", "    Properties:", "      Name: ticks",
             "      Definition: {StartAt: Done, States: {Done: {Type: Pass, End: true}}}",
             "      Events:", "        Daily:", "          Type: Schedule",
             "          Properties: {Schedule: rate(1 day), Name: daily}"]
    for i in range(count):
        at = (first + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S")
        lines += [f"  At{i}:", "    Type: AWS::Scheduler::Schedule", "    Properties:",
                  f"      Name: at-{i}", f"      ScheduleExpression: at({at})",
                  "      FlexibleTimeWindow: {Mode: 'OFF'}",
                  f"      Target: {{Arn: !Ref Ticks, RoleArn: r, Input: '{{\"at\": {i}}}'}}"]
    folder.mkdir(exist_ok=True)
    path = folder / "template.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def started_ats(server: StepLine) -> list[int]:
    sfn = server.client()
    executions = sfn.list_executions(stateMachineArn=MACHINE, maxResults=1000)["executions"]
    return sorted(json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["at"]
                  for e in executions)


def wait_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(timezone.utc)).total_seconds()))


def test_each_due_time_starts_once_across_sigkills(tmp_path: Path) -> None:
    count = 10
    path = template(tmp_path / "app", datetime.now(timezone.utc), 0)
    server = StepLine.start(tmp_path / "s.db", options=["--template", str(path), "--watch"])
    try:  # the at() schedules a few seconds after the server is up, however long its start took
        first = (datetime.now(timezone.utc) + timedelta(seconds=3)).replace(microsecond=0)
        template(tmp_path / "app", first, count)
        for kill_at in (2.3, 5.6):  # killed while due times come, restarted: those missed start late
            wait_until(first + timedelta(seconds=kill_at))
            server.kill()
            server = server.restart()
        wait_until(first + timedelta(seconds=count + 1))
        deadline = time.monotonic() + 20
        while len(started_ats(server)) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        assert started_ats(server) == list(range(count))
        deployed = subprocess.run([sys.executable, "-m", "stepline.cli.main", "deploy", str(path), "--endpoint",
                                   server.url], capture_output=True, text=True, timeout=60)
        assert deployed.returncode == 0, deployed.stderr
        assert "not created schedule arn:aws:scheduler:us-east-1:123456789012:schedule/default/at-0: schedules run " \
               "where the template is served (stepline serve --template)" in deployed.stdout
    finally:
        server.stop()
    listed = schedules_cli("list", "--json", db=tmp_path / "s.db")["schedules"]
    assert {s["name"]: s["nextDue"] for s in listed if s["name"].startswith("at-")} == {
        f"at-{i}": None for i in range(count)}  # each at() has passed
    daily = next(s for s in listed if s["name"] == "daily")
    assert (daily["state"], daily["expression"]) == ("ENABLED", "rate(1 day)")
    assert timedelta(hours=23) < datetime.fromtimestamp(daily["nextDue"], timezone.utc) - first < timedelta(hours=25)
    paused = schedules_cli("pause", "daily", "--json", db=tmp_path / "s.db")["schedules"][0]
    assert (paused["state"], paused["nextDue"]) == ("DISABLED", None)
    server = server.restart()  # the template did not change: the pause holds
    server.stop()
    assert schedules_cli("list", "--json", db=tmp_path / "s.db")["schedules"][0]["state"] == "DISABLED"
    resumed = schedules_cli("resume", "daily", "--json", db=tmp_path / "s.db")["schedules"][0]
    assert resumed["state"] == "ENABLED" and resumed["nextDue"] > datetime.now(timezone.utc).timestamp()
    table = subprocess.run([sys.executable, "-m", "stepline.cli.main", "schedules", "--db", str(tmp_path / "s.db")],
                           capture_output=True, text=True, timeout=60)
    assert table.returncode == 0 and table.stdout.splitlines()[0].split() == [
        "NAME", "STATE", "EXPRESSION", "TIMEZONE", "NEXT", "DUE", "TARGET"]
    missing = subprocess.run([sys.executable, "-m", "stepline.cli.main", "schedules", "pause", "nope", "--db",
                              str(tmp_path / "s.db")], capture_output=True, text=True, timeout=60)
    assert (missing.returncode, missing.stderr.strip()) == (2, "stepline: ResourceNotFound: Schedule nope does not "
                                                               "exist")


def schedules_cli(*arguments: str, db: Path | str) -> dict:
    result = subprocess.run([sys.executable, "-m", "stepline.cli.main", "schedules", *arguments, "--db", str(db)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    with fresh_schema(postgres_url, "sched") as (location, _):
        yield location


def test_two_workers_on_postgresql_start_each_due_time_once(database: str, tmp_path: Path) -> None:
    count = 12
    path = template(tmp_path / "app", datetime.now(timezone.utc), 0)
    servers = [StepLine.start(database, options=["--template", str(path), "--watch", "--worker-name", f"w{n}",  # type: ignore[arg-type]
                                                 "--lease-seconds", "3", "--poll-seconds", "0.2"],
                              log=tmp_path / f"w{n}.log") for n in range(2)]
    try:  # both servers apply the new template (--watch), and both fire schedules
        first = (datetime.now(timezone.utc) + timedelta(seconds=3)).replace(microsecond=0)
        template(tmp_path / "app", first, count)
        wait_until(first + timedelta(seconds=count + 1))
        deadline = time.monotonic() + 20
        while len(started_ats(servers[0])) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        assert started_ats(servers[1]) == list(range(count))
    finally:
        for server in servers:
            server.stop()
