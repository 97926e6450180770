"""The console in a real browser (Debian's chromium through Playwright) against a real `stepline serve`.

A handful of tests, each a whole journey: create a state machine in design mode and watch an execution turn
green live; stop one execution and redrive a failed one; keep the form and the code in sync; and the
executions and execution pages at scale (10,000 executions, 10,002 events), timed in the browser.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from pathlib import Path
from urllib.parse import quote


ROLE = "arn:aws:iam::123456789012:role/stepline-tests"

WAIT_THEN_DONE = {
    "Comment": "Waits ten minutes unless its timer is fired from the console.",
    "StartAt": "Wait here",
    "States": {
        "Wait here": {"Type": "Wait", "Seconds": 600, "Next": "Done"},
        "Done": {"Type": "Pass", "Parameters": {"finished.$": "$.order"}, "End": True},
    },
}
FLAKY = {
    "StartAt": "Call flaky",
    "States": {
        "Call flaky": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:flaky",
                       "Next": "After"},
        "After": {"Type": "Succeed"},
    },
}


def node(name: str, status: str | None = None) -> str:
    selector = f'.sl-node[data-name="{name}"]'
    return selector + (f".sl-status--{status}" if status else "")


def wait_status(client: Any, arn: str, status: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while client.describe_execution(executionArn=arn)["status"] != status:
        assert time.monotonic() < deadline, f"{arn} never became {status}"
        time.sleep(0.05)


def test_create_in_design_mode_start_and_watch_a_state_turn_green_live(server: Any, page: Any, shoot: Any) -> None:
    running, _ = server
    page.goto(f"{running.url}/design")
    page.fill("#machine-name", "waiting")
    page.fill("#code", json.dumps(WAIT_THEN_DONE, indent=2))
    page.wait_for_selector(node("Wait here"))  # the code drove the graph
    page.click("#create")
    page.wait_for_url("**/state-machines/**")
    page.wait_for_selector(node("Done"))
    shoot("state-machine")
    page.click("text=Start execution")
    page.fill("#start-name", "watch-me")
    page.fill("#start-input", '{"order": "o-42"}')
    page.click("dialog button[type=submit]")
    page.wait_for_url("**/executions/**")
    page.wait_for_selector(node("Wait here", "running"))
    page.wait_for_selector(node("Done", "not-run"))
    page.evaluate("window.__same_page = true")
    page.click("#fire-timer")
    page.wait_for_selector(node("Wait here", "succeeded"))  # live, through the event stream
    page.wait_for_selector(node("Done", "succeeded"))
    page.wait_for_selector("#execution-status .badge--succeeded")
    assert page.evaluate("window.__same_page") is True  # no reload
    page.click(node("Done"))
    panel = page.locator("#state-panel")
    panel.get_by_text("Output").wait_for()
    assert '"o-42"' in panel.inner_text()  # the input
    assert '"finished": "o-42"' in panel.inner_text()  # the output
    shoot("execution")
    page.click("#tab-timeline")
    page.wait_for_selector("#timeline .timeline-bar.status--succeeded")
    page.click("#tab-events")
    page.select_option("#event-type", "WaitStateEntered")
    assert page.locator("#events tbody tr").count() == 1
    page.click("#events tbody tr button")
    assert "Wait here" in page.inner_text("#events tbody")
    page.evaluate("localStorage.setItem('stepline-theme', 'dark')")
    page.reload()
    page.wait_for_selector(node("Done", "succeeded"))
    page.click(node("Wait here"))
    shoot("execution-dark")


def test_stop_a_running_execution_and_redrive_a_failed_one(server: Any, page: Any, shoot: Any) -> None:
    running, _ = server
    client = running.client()
    waits = client.create_state_machine(name="stoppable", definition=json.dumps(WAIT_THEN_DONE), roleArn=ROLE)
    started = client.start_execution(stateMachineArn=waits["stateMachineArn"], name="stop-me", input='{"order": 1}')
    page.goto(f"{running.url}/executions/{started['executionArn']}")
    page.wait_for_selector(node("Wait here", "running"))
    page.click("#stop")
    page.wait_for_selector("#execution-status .badge--aborted")
    page.wait_for_selector(node("Wait here", "cancelled"))
    assert client.describe_execution(executionArn=started["executionArn"])["status"] == "ABORTED"

    flaky = client.create_state_machine(name="flaky", definition=json.dumps(FLAKY), roleArn=ROLE)
    failed = client.start_execution(stateMachineArn=flaky["stateMachineArn"], name="fails-once", input='{"id": "r1"}')
    wait_status(client, failed["executionArn"], "FAILED")
    page.goto(f"{running.url}/executions/{quote(failed['executionArn'], safe='')}")  # an encoded ARN works too
    page.wait_for_selector(node("Call flaky", "failed"))
    page.click(node("Call flaky"))
    assert "Flaky" in page.inner_text("#state-panel")  # its error
    shoot("execution-failed")
    page.click("#redrive")
    page.wait_for_selector(node("Call flaky", "succeeded"))
    page.wait_for_selector("#execution-status .badge--succeeded")
    wait_status(client, failed["executionArn"], "SUCCEEDED")


def test_a_nested_execution_links_to_the_execution_that_started_it(server: Any, page: Any) -> None:
    running, _ = server
    client = running.client()
    child = client.create_state_machine(name="nested-child", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    parent = client.create_state_machine(name="nested-parent", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Start", "States": {"Start": {
            "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": True,
            "Parameters": {"StateMachineArn": child,
                           "Input": {"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"}}}}}))
    arn = client.start_execution(stateMachineArn=parent["stateMachineArn"], name="parent-1")["executionArn"]
    wait_status(client, arn, "SUCCEEDED")
    child_arn = json.loads(client.describe_execution(executionArn=arn)["output"])["ExecutionArn"]
    page.goto(f"{running.url}/executions/{quote(child_arn, safe='')}")
    assert page.wait_for_selector("#started-by").inner_text() == "parent-1"
    page.click("#started-by")
    page.wait_for_selector(node("Start", "succeeded"))  # the parent's graph (the child has a state P)
    assert "nested-parent" in page.url


def test_an_express_childs_page_shows_it_without_the_actions_aws_refuses_for_it(server: Any, page: Any) -> None:
    running, _ = server
    client = running.client()
    child = client.create_state_machine(name="express-child", roleArn=ROLE, type="EXPRESS", definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    parent = client.create_state_machine(name="express-parent", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Start", "States": {"Start": {
            "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": True,
            "Parameters": {"StateMachineArn": child,
                           "Input": {"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"}}}}}))
    arn = client.start_execution(stateMachineArn=parent["stateMachineArn"], name="express-parent-1")["executionArn"]
    wait_status(client, arn, "SUCCEEDED")
    child_arn = json.loads(client.describe_execution(executionArn=arn)["output"])["ExecutionArn"]
    page.goto(f"{running.url}/executions/{quote(child_arn, safe='')}")
    assert page.wait_for_selector("#started-by").inner_text() == "express-parent-1"
    assert "SUCCEEDED" in page.inner_text("#execution-status").upper()
    assert page.query_selector("#stop") is None and page.query_selector("#redrive") is None


def test_design_mode_keeps_the_form_the_graph_and_the_code_in_sync(server: Any, page: Any, shoot: Any) -> None:
    running, _ = server
    client = running.client()
    machine = client.create_state_machine(name="designed", definition=json.dumps(WAIT_THEN_DONE), roleArn=ROLE)
    page.goto(f"{running.url}/design/{machine['stateMachineArn']}")
    page.wait_for_selector(node("Done"))
    page.click('#state-list button.state-pick:has-text("Wait here")')
    page.fill("#state-seconds", "42")
    # predicates are functions: Playwright evals a bare expression on every poll, which the console's CSP forbids
    page.wait_for_function("() => document.querySelector('#code').value.includes('\"Seconds\": 42')")
    page.fill("#state-name", "Pause")  # a rename rewires StartAt and every transition
    page.press("#state-name", "Tab")
    page.wait_for_function("() => JSON.parse(document.querySelector('#code').value).StartAt === 'Pause'")
    page.wait_for_selector(node("Pause"))
    page.select_option("#state-next", "")  # (End): Pause now ends the execution
    page.wait_for_function("() => JSON.parse(document.querySelector('#code').value).States.Pause.End === true")
    page.wait_for_selector('#diagnostics :text("not reachable")')  # Done is unreachable now, says the API
    page.wait_for_selector(f'{node("Done")}.sl-invalid')
    definition = json.loads(page.input_value("#code"))  # a Task that no integration of this server serves
    definition["States"]["Pause"] = {"Type": "Task", "Resource": "arn:aws:states:::nosuch:thing", "Next": "Done"}
    page.fill("#code", json.dumps(definition, indent=2))
    page.wait_for_selector('#diagnostics :text("No integration of this stepline serves")')

    definition = json.loads(page.input_value("#code"))  # and the reverse: the code drives the form and graph
    definition["States"]["Pause"] = {"Type": "Wait", "Seconds": 7, "Next": "Done"}
    definition["States"]["Checked"] = {"Type": "Pass", "End": True}
    definition["States"]["Done"]["Next"] = "Checked"
    del definition["States"]["Done"]["End"]
    page.fill("#code", json.dumps(definition, indent=2))
    page.wait_for_selector(node("Checked"))
    page.wait_for_selector("#validation.badge--succeeded")
    page.click('#state-list button.state-pick:has-text("Pause")')
    assert page.input_value("#state-seconds") == "7"
    assert page.input_value("#state-next") == "Done"
    shoot("design")
    page.click("#save")
    page.wait_for_selector(".toast >> text=Saved")
    saved = json.loads(client.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"])
    assert saved == definition


def test_pages_stay_responsive_at_scale(server: Any, page: Any, shoot: Any, artifacts: Any) -> None:
    running, seeded = server
    figures: dict[str, float] = {}
    began = time.perf_counter()
    page.goto(f"{running.url}/state-machines/{seeded['many']}")
    page.wait_for_function("() => document.querySelectorAll('#executions tbody tr').length === 50")
    figures["executions page, first 50 of 10,000 (ms)"] = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    page.click("text=Next ›")
    page.wait_for_selector("text=Page 2")
    figures["executions page, next page (ms)"] = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    page.fill("#name-search", "run-04242")
    page.wait_for_function("() => document.querySelectorAll('#executions tbody tr').length === 1")
    figures["executions page, search by name incl. 300 ms debounce (ms)"] = (time.perf_counter() - began) * 1000
    page.fill("#name-search", "")
    page.select_option("#status-filter", "SUCCEEDED")
    page.wait_for_selector("text=Page 1")

    began = time.perf_counter()
    page.goto(f"{running.url}/executions/{seeded['big']}")
    page.wait_for_selector("main[data-events='10002']")
    page.wait_for_selector(node("Item", "succeeded"))
    figures["execution page, 10,002 events loaded and drawn (ms)"] = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    page.click("#tab-timeline")
    page.wait_for_selector("#timeline .timeline-bar")
    figures["execution page, timeline tab (ms)"] = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    page.click("#tab-events")
    page.click("text=Next ›")
    page.wait_for_selector("text=page 2 of 51")
    figures["execution page, next page of events (ms)"] = (time.perf_counter() - began) * 1000
    page.click(node("Each"), position={"x": 40, "y": 12})  # its title, above its item processor
    page.click('#state-panel button:has-text("#7")')  # into one Map iteration
    page.wait_for_selector("text=Showing iteration #7 of Each")
    shoot("execution-map")
    (artifacts / "console-figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    assert all(value < 15_000 for value in figures.values()), figures


def test_the_home_shows_the_servers_figures(tmp_path: Any, page: Any, shoot: Any) -> None:
    from serving import StepLine

    running = StepLine.start(tmp_path / "stepline.db", functions=["console_functions"],
                             environment={"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                                         os.environ.get("PYTHONPATH", "")])})
    try:
        client = running.client()
        flaky = client.create_state_machine(name="glance", definition=json.dumps(FLAKY), roleArn=ROLE)
        waits = client.create_state_machine(name="glance-waits", definition=json.dumps(WAIT_THEN_DONE), roleArn=ROLE)
        for name, status in (("fails", "FAILED"), ("succeeds", "SUCCEEDED")):  # flaky fails on its first call
            started = client.start_execution(stateMachineArn=flaky["stateMachineArn"], name=name, input='{"id": "g"}')
            wait_status(client, started["executionArn"], status)
        held = client.start_execution(stateMachineArn=waits["stateMachineArn"], input='{"order": 1}')
        page.goto(f"{running.url}/")
        page.wait_for_selector('#figures dd[data-figure="started"]')
        shown = {key: page.inner_text(f'#figures dd[data-figure="{key}"]') for key in (
            "started", "running", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "transitions")}
        # entered: Call flaky; Call flaky and After; Wait here
        assert shown == {"started": "3", "running": "1", "SUCCEEDED": "1", "FAILED": "1", "TIMED_OUT": "0",
                         "ABORTED": "0", "transitions": "4"}
        for key in ("taskSecondsP50", "taskSecondsP95"):  # two Lambda calls in process: a few ms
            assert page.inner_text(f'#figures dd[data-figure="{key}"]').endswith(" ms")
        shoot("home-figures")
        client.stop_execution(executionArn=held["executionArn"])
        wait_status(client, held["executionArn"], "ABORTED")
        page.reload()
        page.wait_for_selector('#figures dd[data-figure="ABORTED"]:text-is("1")')
        assert page.inner_text('#figures dd[data-figure="running"]') == "0"
    finally:
        running.stop()


def test_load_more_shows_only_while_there_is_a_next_page(tmp_path: Any, page: Any, shoot: Any) -> None:
    """The home's "Load more" is drawn only when ListStateMachines returned a nextToken (the hidden attribute
    wins over the buttons' display rule), and it loads the next page."""
    from serving import StepLine

    running = StepLine.start(tmp_path / "stepline.db")
    try:
        client = running.client()
        definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        client.create_state_machine(name="only-one", definition=definition, roleArn=ROLE)
        page.goto(f"{running.url}/")
        page.wait_for_selector("text=only-one")
        more = page.locator("button", has_text="Load more")
        assert more.count() == 1 and more.is_hidden()
        shoot("home-one-page")
        for number in range(100):  # the home asks for pages of 100
            client.create_state_machine(name=f"machine-{number:03d}", definition=definition, roleArn=ROLE)
        page.reload()
        page.wait_for_function("() => document.querySelectorAll('main table tbody tr').length === 100")
        assert more.is_visible()
        more.click()
        page.wait_for_function("() => document.querySelectorAll('main table tbody tr').length === 101")
        assert more.is_hidden()
    finally:
        running.stop()
