"""Every bundled example runs with the status examples/inputs.json expects: in process, and through run_all.py."""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import check_history

from stepline.service.workflow import Workflow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPECS: dict[str, dict[str, Any]] = json.loads((EXAMPLES / "inputs.json").read_text())


def _options(args: list[str]) -> dict[str, str]:
    """The `stepline run` options an example passes, as {"--mock-config": "file", ...}."""
    assert len(args) % 2 == 0, args
    options = dict(zip(args[::2], args[1::2]))
    assert set(options) <= {"--mock-config", "--test-case", "--functions"}, options
    return options


def _fresh_functions(module_name: str) -> dict[str, Any]:
    """The module's public functions, from a fresh import (examples keep state such as attempt counters)."""
    spec = importlib.util.spec_from_file_location(f"example_{module_name}", EXAMPLES / f"{module_name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: value for name, value in vars(module).items()
            if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_example_in_process(name: str) -> None:
    spec = SPECS[name]
    options = _options(spec.get("args", []))
    functions = _fresh_functions(options["--functions"]) if "--functions" in options else None
    mock = EXAMPLES / options["--mock-config"] if "--mock-config" in options else None
    workflow = Workflow.from_file(EXAMPLES / f"{spec.get('definition', name)}.asl.json", functions=functions,
                                  mock_config=mock)
    result = workflow.run(spec["input"], time_scale=0, test_case=options.get("--test-case"))
    assert result.status == spec.get("expect", "SUCCEEDED"), (result.error, result.cause)
    check_history(result.history)
    if result.status == "SUCCEEDED":
        assert result.output_text == json.dumps(result.output, separators=(",", ":"))


def test_examples_cover_every_definition() -> None:
    used = {spec.get("definition", name) for name, spec in SPECS.items()}
    assert used == {path.name.removesuffix(".asl.json") for path in EXAMPLES.glob("*.asl.json")}


def test_run_all_script() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / "run_all.py")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "!!" not in done.stdout and "Traceback" not in done.stdout
    assert done.stdout.count("Status: SUCCEEDED") == sum(spec.get("expect", "SUCCEEDED") == "SUCCEEDED"
                                                         for spec in SPECS.values())
