"""How long the console waits for a drawing: layout and SVG of large definitions, in CPU seconds (the layout runs
per console request, and the machine may be shared, so CPU time rather than wall time).

    PYTHONPATH=src python bench/graph_layout.py

Definitions (tests/graph/generated.py): large_definition(300) and (500), every state type with Choice fan-out,
Catch, loops and nesting; long_loops(300), 300 states all catching into one Fail state while a Choice at the end
loops back to the first five (the longest edges a definition can have).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from graph.generated import large_definition, long_loops  # noqa: E402

from stepline.graph.layout import layout_definition  # noqa: E402
from stepline.graph.svg import render_svg  # noqa: E402


def main() -> None:
    for name, definition in (("large_definition(300)", large_definition(300)),
                             ("large_definition(500)", large_definition(500)), ("long_loops(300)", long_loops(300))):
        times = []
        for _ in range(5):
            started = time.process_time()
            render_svg(layout_definition(definition))
            times.append(time.process_time() - started)
        print(f"{name:24} layout + SVG: median {sorted(times)[2]:.3f} s CPU")


if __name__ == "__main__":
    main()
