"""One Lambda function's process (run as a script by lambda_process.py, importing nothing of stepline): reads
invocations as JSON lines on stdin, answers each on the protocol file descriptor, as Lambda's Python runtime
runs a handler. The handler is imported on the first invocation, from the function's code folder (the working
directory, first on sys.path); what it prints goes to stderr, the server's log.

    python lambda_worker.py HANDLER PROTOCOL_FD     # HANDLER: module.function, as Lambda's Handler
"""

import importlib
import json
import os
import sys
import time
import traceback


class Context:
    """AWS Lambda's context object."""

    def __init__(self, request: dict) -> None:
        self.function_name = request["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = request["arn"]
        self.memory_limit_in_mb = request["memory"]
        self.aws_request_id = request["request_id"]
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = request["log_stream"]
        self.identity = self.client_context = None
        self._deadline = time.monotonic() + request["timeout"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(kind: str, message: str, stack: list | None = None) -> dict:
    return {"error": {"errorMessage": message, "errorType": kind, "stackTrace": stack or []}}


def _load(handler: str):
    module_name, _, function_name = handler.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as error:
        return _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}")
    function = getattr(module, function_name, None)
    if not callable(function):
        return _error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return function


def main() -> None:
    handler_name, fd = sys.argv[1], int(sys.argv[2])
    sys.path[0] = os.getcwd()  # the code folder, not this script's
    answers = os.fdopen(fd, "w", encoding="utf-8")
    handler = None
    for line in sys.stdin:
        request = json.loads(line)
        if handler is None or isinstance(handler, dict):
            handler = _load(handler_name)
        if isinstance(handler, dict):
            answer = handler
        else:
            try:
                result = handler(request["event"], Context(request))
                try:
                    answer = {"result": json.loads(json.dumps(result))}
                except (TypeError, ValueError) as error:
                    answer = _error("Runtime.MarshalError", f"Unable to marshal response: {error}")
            except Exception as error:
                frames = traceback.format_tb(error.__traceback__)[1:]
                answer = _error(type(error).__name__, str(error), frames)
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    os.dup2(2, 1)  # the handler's prints go to the log, never into the answers
    main()
