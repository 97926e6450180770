"""A Map Run in the console (Debian's chromium through Playwright, a real `stepline serve`): reached from its
parent's page, its status and counts updating live to the end, the settings it ran with, its child executions
filtered by status, each opening its own page (which links back to the run)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from serving import ROLE, StepLine

CHILD = {"Which?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 3, "Next": "Broken"}],
                    "Default": "Nap"},
         "Broken": {"Type": "Fail", "Error": "Three", "Cause": "item three"},
         "Nap": {"Type": "Wait", "Seconds": 10, "Next": "Done"},
         "Done": {"Type": "Pass", "End": True}}
PARENT = {"StartAt": "Each", "States": {"Each": {
    "Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"n.$": "$$.Map.Item.Value"}, "MaxConcurrency": 2,
    "ToleratedFailureCount": 1, "End": True,
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                      "StartAt": "Which?", "States": CHILD}}}}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StepLine]:
    running = StepLine.start(tmp_path / "store.db", options=["--time-scale", "0.05"])  # a 10 s Wait: 0.5 s
    yield running
    running.stop()


def test_a_map_run_page_shows_its_counts_live_and_its_children(server: StepLine, page: Any, shoot: Any) -> None:
    client = server.client()
    machine = client.create_state_machine(name="fan-out", roleArn=ROLE, definition=json.dumps(PARENT))
    arn = client.start_execution(stateMachineArn=machine["stateMachineArn"], name="spread",
                                 input=json.dumps({"items": list(range(6))}))["executionArn"]
    page.goto(f"{server.url}/executions/{quote(arn, safe='')}")
    page.wait_for_selector("#map-runs a")
    page.click("#map-runs a")
    page.wait_for_selector("#map-run-counts")
    assert "/map-runs/" in page.url
    assert page.inner_text("#max-concurrency") == "2"
    assert page.inner_text("#tolerated-failures") == "1 items or 0%"
    page.wait_for_selector("#map-run-status .badge--running", timeout=5000)
    page.wait_for_selector("#map-run-status .badge--succeeded", timeout=20000)  # refreshed live to the end
    shoot("map-run")
    assert page.inner_text('[data-count="succeeded"] .items') == "5"
    assert page.inner_text('[data-count="failed"] .executions') == "1"
    assert page.inner_text('[data-count="total"] .items') == "6"
    assert len(page.query_selector_all("#child-executions tbody tr")) == 6
    page.select_option("#child-status-filter", "FAILED")
    deadline = time.monotonic() + 5
    while len(page.query_selector_all("#child-executions tbody tr")) != 1:
        assert time.monotonic() < deadline, "the filter did not apply"
        time.sleep(0.05)
    assert page.query_selector('#child-executions tbody tr[data-status="FAILED"]') is not None
    page.click("#child-executions tbody a")
    page.wait_for_selector('.sl-node[data-name="Broken"].sl-status--failed')  # the child's own graph
    page.click("#map-run")
    page.wait_for_selector("#map-run-counts")
    page.click("#parent-execution")
    page.wait_for_selector('.sl-node[data-name="Each"].sl-status--succeeded')
    assert page.url.endswith(quote(arn, safe=":"))
