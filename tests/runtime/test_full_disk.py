"""A full disk: the API answers ServiceUnavailable, the log says why once, and everything resumes by itself when
space returns, nothing accepted lost. The store lives on a small tmpfs the test mounts (the tests run as root)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from serving import ROLE, StepLine, finished, history

WAIT = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
                                      "Done": {"Type": "Pass", "Result": "done", "End": True}}}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 8 MiB tmpfs mounted in the test's folder."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs (the tests run as root): {mounted.stderr}"
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:  # unbuffered: nothing left to flush (and fail) at close
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_a_full_disk_answers_service_unavailable_and_resumes_when_space_returns(small_disk: Path) -> None:
    server = StepLine.start(small_disk / "store.db", options=["--lease-seconds", "2", "--poll-seconds", "0.5"],
                            log=small_disk.parent / "server.log")  # not on the full disk
    try:
        sfn = server.client()
        machine = sfn.create_state_machine(name="wait", definition=json.dumps(WAIT), roleArn=ROLE)["stateMachineArn"]
        accepted = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(10)]
        filler = fill(small_disk)
        refused = 0
        for _ in range(2000):  # the writes that fit in the space the store's files already have succeed
            try:
                accepted.append(sfn.start_execution(stateMachineArn=machine)["executionArn"])
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ServiceUnavailable", error.response
                assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 503
                refused += 1
                if refused == 5:
                    break
        assert refused, "nothing was refused with the disk full"
        time.sleep(2)  # the accepted executions' Waits end meanwhile: their commits fail too
        assert sfn.list_state_machines()["stateMachines"]  # reads still answer
        filler.unlink()
        for arn in accepted:
            described = finished(sfn, arn, timeout=30)
            assert described["status"] == "SUCCEEDED", described
            assert history(sfn, arn)[-1]["type"] == "ExecutionSucceeded"
        # the store counts as written again once a write succeeds a second after the last that failed
        deadline = time.monotonic() + 10
        while "can be written again" not in server.log.read_text() and time.monotonic() < deadline:
            assert sfn.start_execution(stateMachineArn=machine)["executionArn"]
            time.sleep(0.2)
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log
    assert log.count("cannot be written") == 1, log
    assert log.count("can be written again") == 1, log
