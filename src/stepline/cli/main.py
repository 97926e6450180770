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
from stepline.runtime.store.base import StoreError
from stepline.service import errors
from stepline.service.errors import ApiError
from stepline.service.workflow import Result, Workflow

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
    run.add_argument("--db", help="run on the durable store in this SQLite file and keep the execution there")
    run.set_defaults(handler=_run)

    executions = commands.add_parser("executions", help="list the executions kept in a store",
                                     description="List executions, newest first.")
    executions.add_argument("--db", default="stepline.db", help="the store (default stepline.db)")
    executions.add_argument("--state-machine", help="only this state machine's (name or ARN)")
    executions.add_argument("--status", choices=["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"])
    executions.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    executions.add_argument("--json", action="store_true", help="print ListExecutions' JSON")
    executions.set_defaults(handler=_executions)

    execution = commands.add_parser("execution", help="show one execution kept in a store",
                                    description="Show an execution's status, output or error, and its history.")
    execution.add_argument("reference", metavar="ARN|NAME", help="the execution's ARN or name")
    execution.add_argument("--db", default="stepline.db", help="the store (default stepline.db)")
    execution.add_argument("--history", action="store_true", help="also print the history as a table")
    execution.add_argument("--json", action="store_true", help="print DescribeExecution's JSON (and the events)")
    execution.set_defaults(handler=_execution)

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
    serve.add_argument("--db", help="the store: a SQLite file or a postgresql:// URL (default stepline.db, "
                                       "or STEPLINE_DB)")
    serve.add_argument("--mock-config", help="an AWS Step Functions Local MockConfigFile (or SFN_MOCK_CONFIG)")
    serve.add_argument("--functions", action="append", default=[], metavar="MODULE",
                       help="a Python module whose functions serve Lambda functions of the same name (repeatable)")
    serve.add_argument("--lambda-endpoint", help="invoke Lambda functions through this endpoint (or LAMBDA_ENDPOINT)")
    serve.add_argument("--time-scale", type=_time_scale, default=None,
                       help="scale waits: 0 virtual time, 0.01 a hundred times faster (or WAIT_TIME_SCALE)")
    serve.add_argument("--register", metavar="DIR", help="register every DIR/*.asl.json as a state machine at start")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--allowed-hosts", action="append", metavar="HOST",
                       help="also answer requests whose Host is HOST (repeatable, or comma separated; * for any; "
                            "or STEPLINE_ALLOWED_HOSTS). Default: loopback, --host, and the machine's names and "
                            "addresses when --host is 0.0.0.0 or ::")
    serve.add_argument("--max-connections", type=int, default=10_000, help="open connections at most; past it the "
                                                                            "longest idle one is closed (default 10000)")
    serve.add_argument("--request-timeout", type=_positive, default=30.0,
                       help="seconds a client has to send a whole request (default 30)")
    serve.add_argument("--worker-name", help="this process's name among the store's workers (default host:pid-xxxx; "
                                             "or STEPLINE_WORKER_NAME)")
    serve.add_argument("--lease-seconds", type=_positive, help="how long a worker's claim on an execution lasts "
                                                               "unrenewed: a dead worker's executions are taken over "
                                                               "after this (default 30; or STEPLINE_LEASE_SECONDS)")
    serve.add_argument("--poll-seconds", type=_positive, help="how often a worker looks for work that no notification "
                                                              "announced (default 1; or STEPLINE_POLL_SECONDS)")
    serve.add_argument("--pool-size", type=int, help="PostgreSQL connections of this process (default the URL's "
                                                     "pool_size, or 10; or STEPLINE_POOL_SIZE)")
    serve.set_defaults(handler=_serve)

    workers = commands.add_parser("workers", help="list the workers (stepline serve processes) of a store",
                                  description="List the workers that run a store's executions: name, host, pid, "
                                              "the leases they hold and when they last reported.")
    workers.add_argument("--db", help="the store: a SQLite file or a postgresql:// URL (default stepline.db, "
                                      "or STEPLINE_DB)")
    workers.add_argument("--json", action="store_true", help="print {\"workers\": [...]} as JSON")
    workers.set_defaults(handler=_workers)

    graph = commands.add_parser("graph", help="draw a definition as SVG or PNG (the console's drawing)",
                                description="Lay out a definition top to bottom and write it as SVG, or PNG when "
                                            "the output ends in .png (needs the png extra: CairoSVG).")
    graph.add_argument("file", help="the definition (ASL JSON)")
    graph.add_argument("-o", "--output", required=True, help="the file to write: NAME.svg or NAME.png")
    graph.add_argument("--scale", type=float, default=2.0, help="PNG pixels per SVG unit (default 2)")
    graph.set_defaults(handler=_graph)

    db = commands.add_parser("db", help="manage the store's schema", description="Manage the store's schema.")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", help="create the store's schema, or upgrade it to this stepline's",
                                     description="Create or upgrade the store's schema (SQLite file or PostgreSQL "
                                                 "URL), then exit. Running servers of an older stepline must stop.")
    upgrade.add_argument("--db", help="the store: a SQLite file or a postgresql:// URL (default STEPLINE_DB)")
    upgrade.set_defaults(handler=_db_upgrade)
    return parser


def _db_upgrade(args: argparse.Namespace) -> int:
    from stepline.runtime.store.base import StoreError
    from stepline.service.app import open_store

    location = args.db or os.environ.get("STEPLINE_DB") or "stepline.db"

    async def upgrade() -> str:
        if location.startswith(("postgresql://", "postgres://")):
            from stepline.runtime.store.postgres import upgrade as upgrade_postgres

            found, now = await upgrade_postgres(location)
            return f"schema version {now}" + (f" (was {found or 'empty'})" if found != now else " (up to date)")
        await (await open_store(location)).close()  # a SQLite file is created or upgraded when opened
        return "up to date"

    try:
        sys.stdout.write(asyncio.run(upgrade()) + "\n")
    except StoreError as error:
        sys.stderr.write(f"stepline: {error}\n")
        return EXIT_FAILED
    return EXIT_OK


def _number(text: str, *, zero_allowed: bool, expected: str) -> float:
    """A finite number above 0 (or also 0), as argparse reads an option; its error names what was expected."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 <= value if zero_allowed else 0 < value) or not value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not {expected}")
    return value


def _positive(text: str) -> float:
    return _number(text, zero_allowed=False, expected="a number of seconds above 0")


def _workers(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from stepline.service.app import open_store

    location = args.db or os.environ.get("STEPLINE_DB") or "stepline.db"

    async def listing() -> list[dict]:
        store = await open_store(location)
        try:
            return await store.list_workers()
        finally:
            await store.close()

    workers = _with_store(listing)
    now = datetime.now(timezone.utc)
    for worker in workers:  # alive: reported within three report intervals
        age = (now - worker["heartbeat"]).total_seconds()
        worker["alive"] = age <= 3 * float(worker.get("reportSeconds") or 10)
        worker["secondsSinceHeartbeat"] = round(age, 1)
    if args.json:
        sys.stdout.write(dumps({"workers": [_dates(w) for w in workers]}) + "\n")
    else:
        render.workers_table(workers, sys.stdout)
    return EXIT_OK


def _time_scale(text: str) -> float:
    return _number(text, zero_allowed=True, expected="a number of 0 or more (0 runs in virtual time)")


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
    if args.db:
        result = asyncio.run(_run_durable(text, input_text, mock_config, args))
        return _show_result(result, args)
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
    return _show_result(result, args)


def _show_result(result: Result, args: argparse.Namespace) -> int:
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


def _service(db: str, **options: Any) -> Any:
    from stepline.service.app import StepFunctionsService
    from stepline.service.settings import Settings

    try:
        return StepFunctionsService(Settings(db=db, **options))
    except MockConfigError as error:
        raise UsageError(str(error)) from None
    except Exception as error:  # a --functions module that does not import
        raise UsageError(f"cannot import the functions module: {type(error).__name__}: {error}") from None


async def _run_durable(text: str, input_text: str, mock_config: str | None, args: argparse.Namespace) -> Result:
    """`stepline run --db`: the definition registered in the store, one execution run and kept there."""
    service = _service(args.db, mock_config=mock_config, functions=tuple(args.functions), time_scale=args.time_scale)
    try:
        await service.start()
        try:
            arn = await service.register(args.name or Path(args.file).name.split(".")[0], text)
            started = await service.start_execution(stateMachineArn=f"{arn}#{args.test_case}" if args.test_case
                                                    else arn, input=input_text)
            await service.runtime.wait(started["executionArn"])
            return await _stored_result(service, started["executionArn"])
        finally:
            await service.close()
    except ApiError as error:
        if isinstance(error, errors.InvalidDefinition):
            sys.stderr.write(error.message + "\n")
            raise SystemExit(EXIT_FAILED) from None
        raise UsageError(f"{error.code}: {error.message}") from None
    except StoreError as error:
        raise UsageError(str(error)) from None


async def _stored_result(service: Any, execution_arn: str) -> Result:
    record = await service.describe_execution(executionArn=execution_arn)
    output = record.get("output")
    return Result(execution_arn=execution_arn, status=record["status"], output=loads(output) if output else None,
                  output_text=output, error=record.get("error"), cause=record.get("cause"),
                  start_date=record["startDate"], stop_date=record.get("stopDate"),
                  history=await service.full_history(execution_arn))


def _executions(args: argparse.Namespace) -> int:
    async def listing() -> list[dict]:
        service = _service(args.db)
        await service.start(worker=False)
        try:
            machines = await service.list_state_machines(maxResults=1000)
            arns = [m["stateMachineArn"] for m in machines["stateMachines"]
                    if args.state_machine in (None, m["name"], m["stateMachineArn"])]
            if args.state_machine and not arns:
                raise UsageError(f"no state machine {args.state_machine} in {args.db}")
            found: list[dict] = []
            for arn in arns:
                page = await service.list_executions(stateMachineArn=arn, statusFilter=args.status,
                                                     maxResults=args.limit)
                found += page["executions"]
            return sorted(found, key=lambda e: e["startDate"], reverse=True)[:args.limit]
        finally:
            await service.close()

    found = _with_store(listing)
    if args.json:
        sys.stdout.write(dumps({"executions": [_dates(e) for e in found]}) + "\n")
    else:
        render.executions_table(found, sys.stdout)
    return EXIT_OK


def _execution(args: argparse.Namespace) -> int:
    async def show() -> tuple[dict, list[dict]]:
        service = _service(args.db)
        await service.start(worker=False)
        try:
            arn = await service.find_execution(args.reference)
            return await service.describe_execution(executionArn=arn), await service.full_history(arn)
        finally:
            await service.close()

    record, history = _with_store(show)
    if args.json:
        sys.stdout.write(dumps({**_dates(record), **({"events": [_event_json(e) for e in history]}
                                                     if args.history else {})}) + "\n")
    else:
        sys.stdout.write(f"Execution: {record['executionArn']}\n")
        render.result(record["status"], record.get("output"), record.get("error"), record.get("cause"), sys.stdout)
        if args.history:
            sys.stdout.write("\n")
            render.history_table(history, sys.stdout)
    return EXIT_OK if record["status"] in ("SUCCEEDED", "RUNNING") else EXIT_FAILED


async def _check_store(location: str) -> None:
    """Open and close the store once, so that a corrupt, unreadable or read-only store is reported plainly."""
    from stepline.service.app import open_store

    store = await open_store(location)
    await store.close()


def _with_store(action: Any) -> Any:
    """Run a store-reading coroutine; report the store's and the API's errors as usage errors."""
    try:
        return asyncio.run(action())
    except ApiError as error:
        raise UsageError(f"{error.code}: {error.message}") from None
    except StoreError as error:
        raise UsageError(str(error)) from None


def _dates(record: dict) -> dict:
    return {k: v.timestamp() if hasattr(v, "timestamp") else v for k, v in record.items()}


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
                                         register=args.register, worker_name=args.worker_name,
                                         lease_seconds=args.lease_seconds, poll_seconds=args.poll_seconds,
                                         pool_size=args.pool_size)
    try:
        service = StepFunctionsService(settings)
    except MockConfigError as error:
        raise UsageError(str(error)) from None
    except Exception as error:  # a --functions module that does not import
        raise UsageError(f"cannot import the functions module: {type(error).__name__}: {error}") from None
    _with_store(lambda: _check_store(settings.db))
    # a server holds many long-lived objects (cached executions, programs): collect young garbage less often
    gc.set_threshold(50_000, 20, 100)
    from stepline.console.routes import routes as console_routes

    allowed_hosts = args.allowed_hosts or [os.environ.get("STEPLINE_ALLOWED_HOSTS", "")]
    serve(service, host=args.host, port=args.port, log_level=args.log_level, console_routes=console_routes,
          allowed_hosts=[name for names in allowed_hosts for name in names.split(",") if name.strip()],
          max_connections=args.max_connections, request_timeout=args.request_timeout)
    return EXIT_OK


def _graph(args: argparse.Namespace) -> int:
    from stepline.graph.layout import layout_definition
    from stepline.graph.svg import render_png, render_svg

    text = _read(args.file, "definition")
    try:
        definition = loads(text)
    except ValueError as error:
        raise UsageError(f"the definition is not valid JSON: {error}") from None
    svg = render_svg(layout_definition(definition), title=Path(args.file).name.split(".")[0])
    output = Path(args.output)
    if output.suffix.lower() == ".png":
        try:
            data = render_png(svg, scale=args.scale)
        except ImportError:
            raise UsageError("PNG output needs CairoSVG: pip install 'stepline[png]' (or write .svg)") from None
    elif output.suffix.lower() == ".svg":
        data = svg.encode()
    else:
        raise UsageError(f"cannot tell the format of {output}: name it .svg or .png")
    try:
        output.write_bytes(data)
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror}") from None
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
