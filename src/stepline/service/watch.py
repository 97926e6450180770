"""`stepline serve --template FILE --watch`: the templates applied again whenever one of their files changes.

The files are the templates and the definition files they read (`DefinitionUri`, `DefinitionS3Location`); their
modification times and sizes are polled (no file-watching dependency: a poll every half second costs a few stat
calls). A change re-reads every template and applies them as a start does (service/templates.py): what differs is
updated, a state machine's new definition becoming a new revision (UpdateStateMachine). A template that no longer
reads is reported in one line and changes nothing: the server goes on with what it had.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from stepline.cfn import TemplateError, read_stacks
from stepline.service.errors import ApiError, StoreError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5

Snapshot = dict[Path, tuple[int, int] | None]  # (mtime in ns, size); None when the file is missing


class TemplateWatch:
    """Polls the templates' files of a service and applies the templates again when one changes."""

    def __init__(self, service: Any, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.service = service
        self.poll_seconds = poll_seconds
        self._files = {Path(path) for path in service.settings.templates} | \
            {file for stack in service.stacks for file in stack.files}
        self._seen = _snapshot(self._files)

    async def run(self) -> None:
        """Poll until cancelled; a change that fails with a bug is logged with its traceback, and watching goes on
        (as retention's loop does) rather than ending silently."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                now = await asyncio.to_thread(_snapshot, self._files)
                if now != self._seen:
                    self._seen = now
                    await self.apply()
            except Exception:
                log.exception("template not applied (serving the previous one)")

    async def apply(self) -> None:
        """Read the templates again and apply them; a refusal is one line, and the server keeps what it had."""
        settings = self.service.settings
        try:
            stacks = await asyncio.to_thread(
                read_stacks, [Path(path) for path in settings.templates], region=settings.region,
                account=settings.account, overrides=dict(settings.parameter_overrides),
                stack_name=settings.stack_name)
        except TemplateError as error:
            log.error("template not applied (serving the previous one): %s", error, extra={"error": str(error)})
            return
        self._files = {Path(path) for path in settings.templates} | {file for stack in stacks for file in stack.files}
        self._seen = await asyncio.to_thread(_snapshot, self._files)
        for stack in stacks:
            try:
                done = await self.service.apply_template(stack)
            except (ApiError, StoreError) as error:
                message = error.message if isinstance(error, ApiError) else str(error)
                log.error("template not applied: %s", message, extra={"error": message})
                continue
            changed = [line for line in done if not line.startswith("unchanged")]
            log.warning("template %s applied: %s", stack.path, "; ".join(changed) or "nothing changed",
                        extra={"template": str(stack.path)})
        self.service.stacks = stacks


def _snapshot(files: set[Path]) -> Snapshot:
    found: Snapshot = {}
    for file in files:
        try:
            stat = file.stat()
            found[file] = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            found[file] = None
    return found
