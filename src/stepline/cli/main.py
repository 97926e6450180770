"""`stepline` command line: run and validate state machines.

Exit codes: 0 success; 1 the execution did not succeed or the definition is invalid; 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import sys
from pathlib import Path
from typing import Any

from stepline.cli import render
from stepline.engine.interpreter import Execution
from stepline.errors import DefinitionError
from stepline.jsonvalue import dumps, loads
from stepline.runtime.integrations.mock_config import MockConfigError
from stepline.service.definitions import diagnose, validate_definition
from stepline.service.workflow import Workflow

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or input: reported on stderr with exit code 2."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except UsageError as error:
        sys.stderr.write(f"stepline: {error}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `stepline run ... --history | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stepline", description="Run AWS Step Functions workflows anywhere.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run a state machine definition in process",
                              description="Run an Amazon States Language definition in process and print its result.")
    run.add_argument("file", help="the definition (ASL JSON)")
    run.add_argument("--input", default="{}", help="execution input: JSON text, or @FILE to read it from a file")
    run.add_argument("--mock-config", help="an AWS Step Functions Local MockConfigFile (or SFN_MOCK_CONFIG)")
    run.add_argument("--test-case", help="the mock config test case to run")
    run.add_argument("--functions", action="append", default=[], metavar="MODULE",
                     help="a Python module whose functions serve Lambda functions of the same name (repeatable)")
    run.add_argument("--name", help="the state machine name (default: the file name)")
    run.add_argument("--time-scale", type=_time_scale, default=None,
                     help="scale waits: 0 virtual time (instant), 0.01 a hundred times faster; default real time")
    run.add_argument("--json", action="store_true", help="print one JSON object {status, output, error, cause}")
    run.add_argument("--history", action="store_true", help="also print the execution history")
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check a definition as ValidateStateMachineDefinition does",
                                   description="Print the definition's diagnostics; exit 1 when there are errors.")
    validate.add_argument("file", help="the definition (ASL JSON)")
    validate.add_argument("--json", action="store_true", help="print the ValidateStateMachineDefinition response")
    validate.set_defaults(handler=_validate)

    serve = commands.add_parser("serve", help="serve the AWS Step Functions API (and the console) on the durable store",
                                description="Serve the AWS Step Functions API, as boto3, the AWS CLI and SAM call it. "
                                            "Environment: STEPLINE_DB, SFN_MOCK_CONFIG, AWS_ACCOUNT_ID, "
                                            "AWS_DEFAULT_REGION, LAMBDA_ENDPOINT, WAIT_TIME_SCALE.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8083, help="port (default 8083, as AWS Step Functions Local)")
    serve.add_argument("--db", help="the store: a SQLite file (default stepline.db, or STEPLINE_DB)")
    serve.add_argument("--mock-config", help="an AWS Step Functions Local MockConfigFile (or SFN_MOCK_CONFIG)")
    serve.add_argument("--functions", action="append", default=[], metavar="MODULE",
                       help="a Python module whose functions serve Lambda functions of the same name (repeatable)")
    serve.add_argument("--lambda-endpoint", help="invoke Lambda functions through this endpoint (or LAMBDA_ENDPOINT)")
    serve.add_argument("--time-scale", type=_time_scale, default=None,
                       help="scale waits: 0 virtual time, 0.01 a hundred times faster (or WAIT_TIME_SCALE)")
    serve.add_argument("--register", metavar="DIR", help="register every DIR/*.asl.json as a state machine at start")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(handler=_serve)
    return parser


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of 0 or more (0 runs in virtual time)")
    return value


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {what} {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not UTF-8 text") from None


def _run(args: argparse.Namespace) -> int:
    text = _read(args.file, "definition")
    input_text = _read(args.input[1:], "input file") if args.input.startswith("@") else args.input
    try:
        input_value = loads(input_text)
    except ValueError as error:
        raise UsageError(f"the input is not valid JSON: {error}") from None
    mock_config = args.mock_config or os.environ.get("SFN_MOCK_CONFIG")
    if args.test_case and not mock_config:
        raise UsageError("--test-case needs --mock-config (or SFN_MOCK_CONFIG)")
    sys.path.insert(0, os.getcwd())
    try:
        workflow = Workflow(text, name=args.name or Path(args.file).name.split(".")[0], mock_config=mock_config)
    except DefinitionError as error:
        render.diagnostics(error.diagnostics, sys.stderr)
        return EXIT_FAILED
    except MockConfigError as error:
        raise UsageError(str(error)) from None
    for module in args.functions:
        try:
            workflow.functions.load_module(module)
        except Exception as error:  # not found, or the module itself failed while importing
            reason = str(error) if isinstance(error, ImportError) else f"{type(error).__name__}: {error}"
            raise UsageError(f"cannot import the functions module {module}: {reason}") from None
    try:
        result = asyncio.run(_run_with_progress(workflow, input_value, args))
    except MockConfigError as error:
        raise UsageError(str(error)) from None
    if args.json:
        document: dict[str, Any] = {"status": result.status, "output": result.output, "error": result.error,
                                    "cause": result.cause}
        if args.history:
            document["history"] = [_event_json(event) for event in result.history]
        sys.stdout.write(dumps(document) + "\n")
    else:
        render.result(result.status, result.output_text, result.error, result.cause, sys.stdout)
        if args.history:
            sys.stdout.write("\n")
            render.history_table(result.history, sys.stdout)
    return EXIT_OK if result.succeeded else EXIT_FAILED


async def _run_with_progress(workflow: Workflow, input_value: Any, args: argparse.Namespace) -> Any:
    progress = render.Progress()
    live: list[Execution] = []
    run = asyncio.ensure_future(workflow.run_async(input_value, test_case=args.test_case,
                                                   time_scale=args.time_scale, observe=live.append))
    try:
        while not run.done():
            await asyncio.wait({run}, timeout=0.25)
            if live and not run.done():
                events = live[0].events
                progress.show(f"running: {len(events)} events, last {events[-1]['type'] if events else '-'}")
        return run.result()
    finally:
        progress.clear()


def _event_json(event: dict) -> dict:
    """A history event as GetExecutionHistory's JSON: the timestamp in epoch seconds."""
    return {**event, "timestamp": event["timestamp"].timestamp()}


def _serve(args: argparse.Namespace) -> int:
    import os

    from stepline.server import serve
    from stepline.service.app import StepFunctionsService
    from stepline.service.settings import Settings

    sys.path.insert(0, os.getcwd())
    settings = Settings.from_environment(db=args.db, mock_config=args.mock_config, functions=tuple(args.functions),
                                         lambda_endpoint=args.lambda_endpoint, time_scale=args.time_scale,
                                         register=args.register)
    try:
        service = StepFunctionsService(settings)
    except MockConfigError as error:
        raise UsageError(str(error)) from None
    except Exception as error:  # a --functions module that does not import
        raise UsageError(f"cannot import the functions module: {type(error).__name__}: {error}") from None
    # a server holds many long-lived objects (cached executions, programs): collect young garbage less often
    gc.set_threshold(50_000, 20, 100)
    serve(service, host=args.host, port=args.port, log_level=args.log_level)
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    text = _read(args.file, "definition")
    found = diagnose(text)
    errors = [d for d in found if d.severity == "ERROR"]
    if args.json:
        sys.stdout.write(dumps(validate_definition(text, severity="WARNING")) + "\n")
    elif found:
        render.diagnostics(found, sys.stdout)
    else:
        sys.stdout.write("OK\n")
    return EXIT_FAILED if errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
