"""Run every example workflow with the `stepline` CLI and show the results (what `make run` does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPLINE = Path(sys.executable).with_name("stepline")


def main() -> int:
    examples = json.loads((HERE / "inputs.json").read_text())
    unexpected = 0
    for name, spec in examples.items():
        definition = spec.get("definition", name)
        command = [str(STEPLINE), "run", f"{definition}.asl.json", "--input", json.dumps(spec["input"]),
                   "--time-scale", "0", *spec.get("args", [])]
        print(f"$ stepline run {definition}.asl.json ...  ({name})", flush=True)
        completed = subprocess.run(command, cwd=HERE, capture_output=True, text=True)
        sys.stdout.write(completed.stdout + completed.stderr + "\n")
        status = "SUCCEEDED" if completed.returncode == 0 else "FAILED"
        if status != spec.get("expect", "SUCCEEDED"):
            unexpected += 1
            print(f"!! {name}: expected {spec.get('expect', 'SUCCEEDED')}, got {status}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
