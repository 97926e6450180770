"""Compare the JSONata implementations on PyPI: correctness on a case sample, then compile-once/evaluate-many speed.

Run:  .venv/bin/python bench/jsonata_compare.py
      .venv/bin/python bench/jsonata_compare.py --python jsonata-python=/tmp/jv-py/bin/python --python jsonata-rs=/tmp/jv-rs/bin/python

Each candidate runs in its own worker process (jsonata-python and jsonata-rs both install an importable `jsonata`, so
they cannot share an environment: give each its own interpreter with --python NAME=PATH). A candidate whose module
cannot be imported is reported as "not installed". The cases are in bench/jsonata_cases/ (see its README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CASES = Path(__file__).parent / "jsonata_cases"
UNDEFINED = object()  # a JSONata undefined result, as each adapter reports it
CODE = re.compile(r"\b([STDU]\d{4})\b")


class Adapter:
    """What the bench needs from a library: compile, evaluate (undefined told apart from null), host functions."""

    name = ""
    module = ""

    def compile(self, text: str) -> Any: ...
    def evaluate(self, compiled: Any, data: Any, bindings: dict[str, Any]) -> Any: ...
    def register(self, compiled: Any, name: str, function: Callable[..., Any]) -> None:
        raise NotImplementedError

    def override(self, compiled: Any, name: str, function: Callable[..., Any]) -> None:
        """Replace a built-in ($random, $now, $eval) for this expression."""
        self.register(compiled, name, function)

    def error_code(self, error: Exception) -> str | None:
        for attribute in ("code", "error_code", "error"):
            value = getattr(error, attribute, None)
            if isinstance(value, str) and CODE.fullmatch(value):
                return value
        found = CODE.search(str(error))
        return found.group(1) if found else None

    def error_message(self, error: Exception) -> str:
        """The message without the code and position decorations some libraries add."""
        text = str(error).removeprefix("Parse error: ").removeprefix("JSonataException ")
        return re.sub(r"^[STDU]\d{4}( @ \d+)?: ", "", text)


class JsonataPy(Adapter):
    name, module = "jsonatapy", "jsonatapy"

    def __init__(self) -> None:
        import jsonatapy
        import orjson

        self.lib, self.orjson = jsonatapy, orjson

    def compile(self, text: str) -> Any:
        return self.lib.compile(text)

    def evaluate(self, compiled: Any, data: Any, bindings: dict[str, Any]) -> Any:
        text = None if data is UNDEFINED else self.orjson.dumps(data).decode()
        out = compiled.evaluate_json_or_none(text, bindings or None)
        return UNDEFINED if out is None else self.orjson.loads(out)

    def register(self, compiled: Any, name: str, function: Callable[..., Any]) -> None:
        compiled.register(name, function)

    def override(self, compiled: Any, name: str, function: Callable[..., Any]) -> None:
        compiled.register_override(name, function)


class JsonataPython(Adapter):
    name, module = "jsonata-python", "jsonata"

    def __init__(self) -> None:
        import jsonata

        if not hasattr(jsonata, "Timebox"):
            raise ImportError("`jsonata` here is not jsonata-python")
        self.lib = jsonata

    def compile(self, text: str) -> Any:
        compiled = self.lib.Jsonata(text)
        compiled.set_output_convert_nulls(False)
        return compiled

    def evaluate(self, compiled: Any, data: Any, bindings: dict[str, Any]) -> Any:
        out = compiled.evaluate(None if data is UNDEFINED else data, bindings or None)
        return UNDEFINED if out is None else self.lib.utils.Utils.convert_nulls(out)

    def register(self, compiled: Any, name: str, function: Callable[..., Any]) -> None:
        compiled.register_lambda(name, function)


class JsonataRs(JsonataPython):  # the same Jsonata class and compile; undefined is told apart differently
    name, module = "jsonata-rs", "jsonata"

    def __init__(self) -> None:
        import jsonata

        if not hasattr(jsonata, "UNDEFINED"):
            raise ImportError("`jsonata` here is not jsonata-rs")
        self.lib = jsonata

    def evaluate(self, compiled: Any, data: Any, bindings: dict[str, Any]) -> Any:
        if data is UNDEFINED:  # the binding accepts no undefined input; leaving data out means none
            out = compiled.evaluate(bindings=bindings or None)
        else:
            out = compiled.evaluate(data, bindings or None)
        return UNDEFINED if out is self.lib.UNDEFINED else out

    def register(self, compiled: Any, name: str, function: Callable[..., Any]) -> None:
        compiled.register_function(name, function)


class Jlens(Adapter):
    name, module = "jlens", "jlens"

    def __init__(self) -> None:
        import jlens
        import orjson

        self.lib, self.orjson = jlens, orjson

    def compile(self, text: str) -> Any:
        return self.lib.Expression(text)

    def evaluate(self, compiled: Any, data: Any, bindings: dict[str, Any]) -> Any:
        out = compiled.evaluate_json(None if data is UNDEFINED else self.orjson.dumps(data).decode(), bindings or None)
        return UNDEFINED if out is None else self.orjson.loads(out)

    def register(self, compiled: Any, name: str, function: Callable[..., Any]) -> None:
        compiled.register_function(name, function)


class Jsonata2Py(Adapter):
    name, module = "jsonata2py", "jsonata2py"

    def __init__(self) -> None:
        import jsonata2py

        self.lib = jsonata2py

    def compile(self, text: str) -> Any:
        return (self.lib.compile(text), {})  # the expression and its host functions

    def evaluate(self, compiled: Any, data: Any, bindings: dict[str, Any]) -> Any:
        expression, functions = compiled
        values = self.lib.JsonataBindings()
        for name, value in bindings.items():
            values.bind_value(name, value)
        for name, function in functions.items():
            values.bind_function(name, function)
        out = expression.evaluate(self.lib.MISSING if data is UNDEFINED else data, values)
        return UNDEFINED if out is self.lib.MISSING else out

    def register(self, compiled: Any, name: str, function: Callable[..., Any]) -> None:
        compiled[1][name] = function


class ZopyxPyjsonata(Adapter):
    name, module = "zopyx.pyjsonata", "zopyx.pyjsonata"

    def __init__(self) -> None:
        from zopyx import pyjsonata

        self.lib = pyjsonata

    def compile(self, text: str) -> Any:
        return self.lib.Jsonata(text)

    def evaluate(self, compiled: Any, data: Any, bindings: dict[str, Any]) -> Any:
        out = compiled.evaluate(self.lib.UNDEFINED if data is UNDEFINED else data, bindings or None)
        return UNDEFINED if out is self.lib.UNDEFINED else out


ADAPTERS: dict[str, type[Adapter]] = {a.name: a for a in (JsonataPy, JsonataPython, JsonataRs, Jlens, Jsonata2Py, ZopyxPyjsonata)}

# Typical Step Functions expressions: what Arguments, Output, Assign and Choice conditions look like.
SPEED_INPUT = {
    "x": 42,
    "id": "order-1",
    "values": list(range(100)),
    "items": [{"name": f"item{i}", "price": i * 1.5, "qty": i % 4} for i in range(20)],
}
SPEED_EXPRESSIONS = {
    "path": "$states.input.x",
    "filter": "$states.input.items[price > 10]",
    "sum": "$sum($states.input.values)",
    "object": "{'id': $states.input.id, 'total': $sum($states.input.items.(price * qty)), 'names': $states.input.items.name}",
    "condition": "$states.input.x > 10 and $count($states.input.items) < 50",
}


def load_cases() -> list[dict[str, Any]]:
    datasets = json.loads((CASES / "datasets.json").read_text())
    cases = []
    for file in ("jsonata_suite.jsonl", "stepfunctions.jsonl"):
        for line in (CASES / file).read_text().splitlines():
            case = json.loads(line)
            dataset = case.get("dataset", -1)
            case["data"] = UNDEFINED if dataset == -1 else datasets[str(dataset)]
            case["source"] = file
            cases.append(case)
    return cases


def same(a: Any, b: Any) -> bool:
    """JSON equality where 2 == 2.0 but True != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or math.isclose(a, b, rel_tol=1e-15)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def run_case(adapter: Adapter, case: dict[str, Any]) -> tuple[bool, str]:
    """Whether the result (or error code) is right; a case with a "message" also needs jsonata-js's message."""
    try:
        compiled = adapter.compile(case["expr"])
        got = adapter.evaluate(compiled, case["data"], case.get("bindings") or {})
    except Exception as error:  # noqa: BLE001 - every library raises its own type
        code, message = adapter.error_code(error), adapter.error_message(error)
        ok = "code" in case and code == case["code"] and case.get("message", message) == message
        return ok, f"error {code}: {message}"
    if "code" in case:
        return False, f"expected {case['code']}, got {got!r}"
    if case.get("undefinedResult"):
        return got is UNDEFINED, repr(got)
    return (got is not UNDEFINED and same(got, case["result"])), repr(got)


def probe(adapter: Adapter) -> dict[str, bool]:
    """Capabilities stepline needs beyond the language itself."""
    results: dict[str, bool] = {}

    def check(name: str, body: Callable[[], bool]) -> None:
        try:
            results[name] = bool(body())
        except Exception:  # noqa: BLE001
            results[name] = False

    def null_vs_undefined() -> bool:
        null = adapter.evaluate(adapter.compile("$states.n"), UNDEFINED, {"states": {"n": None}})
        gone = adapter.evaluate(adapter.compile("$states.m"), UNDEFINED, {"states": {"n": None}})
        return null is None and gone is UNDEFINED

    def host_function() -> bool:
        compiled = adapter.compile("$partition([1,2,3], 2)")
        adapter.register(compiled, "partition", lambda a, n: [a[i : i + int(n)] for i in range(0, len(a), int(n))])
        return same(adapter.evaluate(compiled, UNDEFINED, {}), [[1, 2], [3]])

    def override_random() -> bool:
        compiled = adapter.compile("$random()")
        adapter.override(compiled, "random", lambda *seed: 0.25)
        return adapter.evaluate(compiled, UNDEFINED, {}) == 0.25

    def override_now() -> bool:
        compiled = adapter.compile("$now()")
        adapter.override(compiled, "now", lambda *args: "2020-01-01T00:00:00.000Z")
        return adapter.evaluate(compiled, UNDEFINED, {}) == "2020-01-01T00:00:00.000Z"

    check("null vs undefined", null_vs_undefined)
    check("host function", host_function)
    check("override $random", override_random)
    check("override $now", override_now)
    return results


def speed(adapter: Adapter, seconds: float) -> dict[str, float]:
    bindings = {"states": {"input": SPEED_INPUT, "context": {"Execution": {"Name": "x"}}}}
    rates = {}
    for label, text in SPEED_EXPRESSIONS.items():
        try:
            compiled = adapter.compile(text)
            adapter.evaluate(compiled, UNDEFINED, bindings)
        except Exception:  # noqa: BLE001
            rates[label] = 0.0
            continue
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(20):
                adapter.evaluate(compiled, UNDEFINED, bindings)
            count += 20
        rates[label] = count / elapsed
    return rates


def worker(name: str, seconds: float, verbose: bool) -> dict[str, Any]:
    try:
        adapter = ADAPTERS[name]()
    except ImportError as error:
        return {"name": name, "installed": False, "why": str(error)}
    passed: dict[str, list[int]] = {}
    failures = []
    for case in load_cases():
        ok, detail = run_case(adapter, case)
        tally = passed.setdefault(case["source"], [0, 0])
        tally[0] += ok
        tally[1] += 1
        if not ok:
            failures.append(f"[{case['group']}] {case['expr'].strip()[:90]!r}: {detail[:160]}")
    return {
        "name": name,
        "installed": True,
        "version": _version(adapter.module),
        "passed": passed,
        "failures": failures if verbose else failures[:0],
        "probes": probe(adapter),
        "speed": speed(adapter, seconds),
    }


def _version(module: str) -> str:
    from importlib import metadata

    for dist in (module, module.replace(".", "-"), "jsonata-python", "jsonata-rs"):
        try:
            files = metadata.files(dist) or []
        except metadata.PackageNotFoundError:
            continue
        if any(str(f).startswith(module.split(".")[0] + "/") for f in files):
            return metadata.version(dist)
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", action="append", default=[], metavar="NAME=PATH", help="interpreter for a candidate")
    parser.add_argument("--only", action="append", default=[], help="run only these candidates")
    parser.add_argument("--seconds", type=float, default=0.5, help="timing per speed expression (default 0.5)")
    parser.add_argument("--failures", action="store_true", help="list every failed case")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.seconds, args.failures)))
        return
    interpreters = dict(item.split("=", 1) for item in args.python)
    reports = []
    for name in args.only or ADAPTERS:
        command = [interpreters.get(name, sys.executable), __file__, "--worker", name, "--seconds", str(args.seconds)]
        done = subprocess.run(command + (["--failures"] if args.failures else []), capture_output=True, text=True)
        if done.returncode != 0:
            reports.append({"name": name, "installed": False, "why": done.stderr.strip().splitlines()[-1:]})
            continue
        reports.append(json.loads(done.stdout.strip().splitlines()[-1]))  # a library may print first
    print_table(reports)


def print_table(reports: list[dict[str, Any]]) -> None:
    labels = list(SPEED_EXPRESSIONS)
    head = ["candidate", "version", "suite", "sfn", "undef", "hostfn", "$random", "$now"] + labels + ["geomean"]
    rows = []
    for r in reports:
        if not r.get("installed"):
            rows.append([r["name"], "not installed"] + [""] * (len(head) - 2))
            continue
        p, s = r["passed"], r["speed"]
        fraction = [f"{p[k][0]}/{p[k][1]}" for k in ("jsonata_suite.jsonl", "stepfunctions.jsonl")]
        probes = ["yes" if r["probes"][k] else "no" for k in r["probes"]]
        positive = [v for v in s.values() if v > 0]
        geomean = math.exp(sum(map(math.log, positive)) / len(positive)) if positive else 0.0
        rows.append([r["name"], r["version"], *fraction, *probes, *(f"{s[k]:,.0f}" for k in labels), f"{geomean:,.0f}"])
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).rjust(w) if i >= 2 else str(cell).ljust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    print("\nsuite/sfn: cases passed; undef: tells undefined from null; hostfn: Python functions callable as $name;")
    print("$random/$now: a built-in can be replaced per expression; speed columns: evaluations per second.")
    for r in reports:
        for failure in r.get("failures", []):
            print(f"{r['name']}: {failure}")


if __name__ == "__main__":
    main()
