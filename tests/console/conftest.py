"""Fixtures of the console tests: Debian's chromium driven by Playwright, and a real `stepline serve`.

The browser is never downloaded: when chromium is missing it is installed with apt-get (CI runs as root).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving import StepLine

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parents[1] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run",
                 "--host-resolver-rules=MAP attacker.test 127.0.0.1"]  # a DNS-rebinding attacker's name
ROLE = "arn:aws:iam::123456789012:role/stepline-tests"
MANY = 10_000  # executions of one state machine
MAP_ITEMS = 2_499  # a Map over this many items records 10,002 events


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's chromium, installed when missing."""
    path = shutil.which("chromium")
    if path is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True, timeout=900)
        path = shutil.which("chromium")
    assert path, "chromium is not installed and apt-get could not install it"
    return path


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, errors


def seed(db: Path) -> dict[str, str]:
    """Before the server starts: 10,000 executions of one state machine and one execution of 10,002 events."""
    from stepline.service.app import StepFunctionsService
    from stepline.service.settings import Settings

    async def run() -> dict[str, str]:
        service = StepFunctionsService(Settings.from_environment(db=str(db), time_scale=0))
        await service.start()
        try:
            many = await service.create_state_machine(
                name="many", roleArn=ROLE,
                definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
            for number in range(MANY):
                await service.start_execution(stateMachineArn=many["stateMachineArn"], name=f"run-{number:05d}")
            big = await service.create_state_machine(name="big", roleArn=ROLE, definition=json.dumps({
                "StartAt": "Each", "States": {"Each": {
                    "Type": "Map", "ItemsPath": "$.items", "End": True,
                    "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": True}}}}}}))
            started = await service.start_execution(stateMachineArn=big["stateMachineArn"], name="ten-thousand",
                                                    input=json.dumps({"items": list(range(MAP_ITEMS))}))
            await service.runtime.wait(started["executionArn"], timeout=120)
            return {"many": many["stateMachineArn"], "big": started["executionArn"]}
        finally:
            await service.close()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StepLine, dict[str, str]]]:
    """`stepline serve` with the console, on a store seeded with the scale data."""
    db = tmp_path_factory.mktemp("console") / "stepline.db"
    seeded = seed(db)
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])  # keep a worktree's src/ first
    running = StepLine.start(db, functions=["console_functions"], environment={"PYTHONPATH": path})
    yield running, seeded
    running.stop()


@pytest.fixture
def shoot(page: Any) -> Any:
    """shoot(name): a screenshot of the page under test-artifacts/ (git-ignored)."""
    def take(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(path))
        return path
    return take


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
