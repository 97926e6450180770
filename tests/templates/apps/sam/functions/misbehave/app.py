"""Functions that fail as Lambda functions fail: an exception, a timeout, a process that dies."""

import os
import signal
import time


def fail(event, context):
    raise ValueError(f"cannot handle {event['what']}")


def slow(event, context):
    time.sleep(30)


def crash(event, context):
    os.kill(os.getpid(), signal.SIGKILL)


def describe(event, context):
    return {"name": context.function_name, "remaining": context.get_remaining_time_in_millis() > 0,
            "request": len(context.aws_request_id), "greeting": os.environ["GREETING"],
            "memory": context.memory_limit_in_mb, "pid": os.getpid(), "cwd": os.path.basename(os.getcwd())}
