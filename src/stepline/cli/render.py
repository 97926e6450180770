"""How the CLI shows things to people: results, diagnostics, history tables and progress (on stderr)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from stepline.errors import Diagnostic

_DETAIL_FIELDS = ("name", "error", "resource", "index", "length")


def error(message: str, out: TextIO, *, prog: str = "stepline") -> None:
    """A refusal in one line: its own line breaks (a PostgreSQL error has some) become spaces."""
    out.write(f"{prog}: " + " ".join(part.strip() for part in message.splitlines() if part.strip()) + "\n")


def diagnostics(found: Iterable[Diagnostic], out: TextIO) -> None:
    for d in found:  # one line each, even when a message quotes the definition's own line breaks
        line = f"{d.severity} {d.code} at {d.location or '/'}: {d.message}"
        out.write(line.replace("\r", "\\r").replace("\n", "\\n") + "\n")


def result(status: str, output: str | None, error: str | None, cause: str | None, out: TextIO) -> None:
    out.write(f"Status: {status}\n")
    if output is not None:
        out.write(f"Output: {output}\n")
    if error is not None:
        out.write(f"Error:  {error}\n")
    if cause is not None:
        out.write(f"Cause:  {cause}\n")


def history_table(events: list[dict], out: TextIO) -> None:
    """One line per event: id, time, type and its most telling detail."""
    rows = [("ID", "TIME", "TYPE", "DETAIL")]
    for event in events:
        details = next((v for k, v in event.items() if k.endswith("EventDetails")), None) or {}
        summary = ", ".join(f"{k}={details[k]}" for k in _DETAIL_FIELDS if k in details)
        for key in ("input", "output", "cause"):
            if key in details and not summary.endswith("..."):
                text = str(details[key])
                summary = (summary + ", " if summary else "") + f"{key}={_short(text)}"
                break
        timestamp = event["timestamp"].strftime("%H:%M:%S.%f")[:-3]
        rows.append((str(event["id"]), timestamp, event["type"], summary))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        out.write("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip() + "\n")


def executions_table(executions: list[dict], out: TextIO) -> None:
    """One line per execution: name, status, start and stop times, state machine."""
    rows = [("NAME", "STATUS", "STARTED", "STOPPED", "STATE MACHINE")]
    for e in executions:
        stop = e.get("stopDate")
        rows.append((e["name"], e["status"], e["startDate"].strftime("%Y-%m-%d %H:%M:%S"),
                     stop.strftime("%Y-%m-%d %H:%M:%S") if stop else "-", e["stateMachineArn"].split(":")[-1]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")


def workers_table(workers: list[dict], out: TextIO) -> None:
    """One line per worker: name, host, pid, leases held, tasks in flight, seconds since it reported, alive."""
    rows = [("NAME", "HOST", "PID", "LEASES", "TASKS", "HEARTBEAT", "STATUS")]
    for w in workers:
        rows.append((w["name"], str(w.get("host", "-")), str(w.get("pid", "-")), str(w.get("leases", 0)),
                     str(w.get("tasks", 0)), f"{w['secondsSinceHeartbeat']:.0f} s ago",
                     "alive" if w["alive"] else "gone"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")
    if not workers:
        out.write("(no worker has reported to this store)\n")


def schedules_table(schedules: list[dict], out: TextIO) -> None:
    """One line per schedule: name, state, expression and time zone, next due time, target."""
    rows = [("NAME", "STATE", "EXPRESSION", "TIMEZONE", "NEXT DUE", "TARGET")]
    for s in schedules:
        due = s["nextDue"].strftime("%Y-%m-%d %H:%M:%S UTC") if s["nextDue"] else "-"
        rows.append((s["name"], s["state"], s["expression"], s["timezone"], due, s["target"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")
    if not schedules:
        out.write("(no schedule in this store)\n")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Progress:
    """A one-line live status on a terminal's stderr; silent when stderr is not a terminal."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.shown = False

    def show(self, text: str) -> None:
        if self.enabled:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
