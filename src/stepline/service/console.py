"""What the web console needs beyond the AWS actions: new history events to stream, the timers an execution
waits on (and firing one now), and executions found by name. StepFunctionsService takes these methods in
as a mixin, so the console, like every surface, goes through the application layer.
"""

from __future__ import annotations

from typing import Any

from stepline.jsonvalue import loads
from stepline.runtime.signals import Signal
from stepline.service import errors

_EVENTS_PER_READ = 1000
_TIMER_WAITS = {"timer": "wait", "retry": "retry"}


class ConsoleMethods:
    """Methods of StepFunctionsService used by the console only."""

    store: Any
    runtime: Any

    async def execution_updates(self, *, executionArn: str, after: int = 0, limit: int = _EVENTS_PER_READ) -> dict:
        """The history events after event `after` (at most `limit`), the execution's status, and its timers.

        The console's event stream polls this: `{"events": [...], "status": "RUNNING", "timers": [...],
        "more": bool}`, events in GetExecutionHistory's shape.
        """
        record = await self._execution(executionArn)  # type: ignore[attr-defined]
        # the timers before the events: the commit that set a timer wrote its events too, so the events read next
        # include them (read the other way round, a commit in between gives a timer without its events)
        timers = await self.waiting_timers(executionArn=executionArn) if record.status == "RUNNING" else []
        events = await self.store.get_events(executionArn, after=after, limit=limit + 1)
        more = len(events) > limit
        return {"events": events[:limit], "more": more, "status": record.status, "timers": timers}

    async def waiting_timers(self, *, executionArn: str) -> list[dict]:
        """The Wait states and Retry intervals the execution waits on: `[{"thread", "state", "kind"}]`."""
        document = await self.store.get_checkpoint(executionArn)
        if document is None:
            return []
        position = loads(document)
        if position.get("status") != "RUNNING":
            return []
        return [{"thread": thread["key"], "state": thread["state"], "kind": _TIMER_WAITS[thread["waiting"]],
                 "token": thread["token"]}
                for thread in position.get("threads", []) if thread.get("waiting") in _TIMER_WAITS]

    async def fire_timer_now(self, *, executionArn: str, thread: str | None = None) -> dict:
        """End a Wait or a Retry interval now, as if its time had come: `{"fired": [timers]}`.

        Without `thread`, every timer the execution waits on fires. The timer's row is removed when the
        signal is applied, exactly as when it fires on time; a late duplicate is ignored by its token.
        """
        record = await self._execution(executionArn)  # type: ignore[attr-defined]
        if record.status != "RUNNING":
            raise errors.ValidationException(f"Execution is {record.status}: it waits on no timer")
        timers = [t for t in await self.waiting_timers(executionArn=executionArn)
                  if thread is None or t["thread"] == thread]
        if not timers:
            raise errors.ValidationException("The execution waits on no Wait state or Retry interval")
        for timer in timers:
            await self.runtime.post(Signal("timer", executionArn, timer["thread"], timer["token"]))
        return {"fired": timers}

    async def find_executions(self, *, stateMachineArn: str, name: str = "", statusFilter: str | None = None,
                              maxResults: int = 100, nextToken: str | None = None) -> dict:
        """ListExecutions narrowed to names containing `name` (case-insensitive), paged like it."""
        await self._state_machine(stateMachineArn)  # type: ignore[attr-defined]
        wanted = name.casefold()
        page, token = await self.page_of_executions(  # type: ignore[attr-defined]
            {"state_machine_arn": stateMachineArn, "status": statusFilter},
            lambda record: wanted in record.name.casefold(), max_results=maxResults, next_token=nextToken,
            scope=f"FindExecutions/{stateMachineArn}/{wanted}/{statusFilter}")
        return {"executions": page, **({"nextToken": token} if token else {})}
