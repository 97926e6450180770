"""The positions an execution is made of: threads (the root, Parallel branches, Map iterations) and the groups
of children a running Parallel or Map state owns. Plain mutable records; checkpoint.py turns them into JSON."""

from __future__ import annotations

from stepline.engine.program import Machine, State
from stepline.engine.resources import Resource
from stepline.jsonvalue import JSON


class Thread:
    """A position in a (sub-)state machine: the root, a Parallel branch or a Map iteration."""

    __slots__ = ("key", "machine", "parent", "index", "variables", "state", "input", "entered_id",
                 "entered_time", "last_event", "attempts", "retry_count", "token", "waiting", "effective",
                 "group", "recorded", "finished", "task_token", "resource", "failed_events", "failed_group", "map_run")

    def __init__(self, key: str, machine: Machine, parent: Group | None, index: int, variables: dict[str, JSON],
                 input: JSON, last_event: int, recorded: bool) -> None:
        self.key = key
        self.machine = machine
        self.parent = parent
        self.index = index
        self.variables = variables
        self.state: State = machine.states[machine.start_at]  # a finished thread keeps its last one
        self.input = input
        self.entered_id = 0
        self.entered_time = ""
        self.last_event = last_event
        self.attempts: list[int] = []
        self.retry_count = 0
        self.token = 0
        self.waiting: str | None = None  # "task" | "timer" | "retry" | "children"
        self.effective: JSON = None  # the state's effective input, kept while it waits
        self.group: Group | None = None
        self.recorded = recorded  # distributed Map iterations are child executions: not in this history
        self.finished = False
        self.task_token: str | None = None
        self.resource: Resource | None = None  # what the Task state names, once described
        self.failed_events: tuple[str, ...] = ()  # MapStateFailed etc., recorded unless a Retry restarts the state
        self.failed_group: Group | None = None  # the children of a Map/Parallel that failed, kept for a redrive
        self.map_run: str | None = None  # the ARN of the distributed Map's run, while the thread is in that Map


class Group:
    """The children of a running Parallel or Map state."""

    __slots__ = ("owner", "kind", "inputs", "results", "next_index", "running", "failures", "done",
                 "max_concurrency", "tolerated_count", "tolerated_percentage", "distributed", "items", "unfinished",
                 "unwritten")

    def __init__(self, owner: Thread, kind: str, inputs: list[JSON], max_concurrency: int = 0,
                 tolerated_count: float = 0, tolerated_percentage: float = 0.0, distributed: bool = False,
                 items: list[JSON] | None = None) -> None:
        self.owner = owner
        self.kind = kind
        self.inputs = inputs  # Parallel: one input per branch; Map: the items
        self.items = items
        self.results: list[JSON] = [None] * len(inputs)
        self.next_index = 0
        self.running: dict[int, Thread] = {}
        self.unfinished: dict[int, Thread] = {}  # failed or aborted children, kept for a redrive
        self.failures = 0
        self.done = 0
        self.max_concurrency = max_concurrency
        self.tolerated_count = tolerated_count
        self.tolerated_percentage = tolerated_percentage
        self.distributed = distributed
        # a Map's results a durable checkpoint has not written yet (checkpoint.py); None: nothing of it written
        self.unwritten: list[int] | None = None
