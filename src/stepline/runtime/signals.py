"""What advances an execution in the durable runtime: signals, and the timers that become signals when due."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Signal:
    """Something that happened to an execution."""

    kind: str  # start, task_ok, task_failed, timeout, heartbeat_timeout, timer, execution_timeout, stop, heartbeat,
    #             activity_started, submitted, redrive, resume (continue from the checkpoint after a claim)
    execution_arn: str
    thread: str = ""
    token: int = 0
    payload: Any = None
    signal_id: int | None = None  # the inbox signal this is (Store.post_signal), consumed when applied


# signal kind -> the kind of the timer it comes from (fired timers are removed by the commit that applies them)
TIMER_KIND = {"timer": "timer", "timeout": "task_timeout", "heartbeat_timeout": "heartbeat",
               "execution_timeout": "execution_timeout"}
SIGNAL_OF_TIMER = {timer: signal for signal, timer in TIMER_KIND.items()}
