"""`FailureHooks` makes a failed run end with one line naming the node, the cause and
where it was raised; the full traceback goes to info.log (conf/logging.yml), or to the
console too with UNIMED_TRACEBACK=1."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from types import TracebackType

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node

from unimed_kedro.engine import memo

FULL_TRACEBACK = "UNIMED_TRACEBACK"  # =1: the console shows the full traceback as well
FAILURE_LOG = logging.getLogger("unimed_kedro.failure")  # conf/logging.yml: info.log only


class FailureHooks:
    """One clear last line for a failed `kedro run`: Python prints an uncaught exception
    through `sys.excepthook`, which this hook replaces for the run (from context creation,
    so a bad raw_root or catalog entry counts too) with `failure_line`, after logging the
    full traceback to `unimed_kedro.failure` where the logging config gives that logger a
    handler of its own (conf/logging.yml: info.log, not the console)."""

    def __init__(self) -> None:
        self.node: str | None = None
        self.error: BaseException | None = None
        self.saving: str | None = None
        self._previous = sys.excepthook

    @hook_impl
    def after_context_created(self) -> None:
        self.node, self.error, self.saving = None, None, None
        if sys.excepthook is not self.excepthook:
            self._previous, sys.excepthook = sys.excepthook, self.excepthook

    @hook_impl
    def on_node_error(self, error: Exception, node: Node) -> None:
        if self.error is None:
            self.error, self.node = error, node.name

    @hook_impl
    def before_dataset_saved(self, node: Node) -> None:
        """A memoized node's work runs when its output is saved (`engine.memo`): an error
        there is that node's."""
        self.saving = node.name

    @hook_impl
    def after_dataset_saved(self) -> None:
        self.saving = None

    @hook_impl
    def after_pipeline_run(self) -> None:
        if sys.excepthook is self.excepthook:
            sys.excepthook = self._previous

    def excepthook(
        self, kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit
            self._previous(kind, error, tb)
            return
        work = memo.work_error(error)
        if work is not None and self.saving:
            line = failure_line(work, self.saving)
        else:
            line = failure_line(error, self.node if _caused_by(error, self.error) else None)
        files = [h.baseFilename for h in FAILURE_LOG.handlers if isinstance(h, logging.FileHandler)]
        if FAILURE_LOG.handlers:
            FAILURE_LOG.error(line, exc_info=(kind, error, tb))
        if os.environ.get(FULL_TRACEBACK, "") not in ("", "0"):
            self._previous(kind, error, tb)
        elif files:
            line += f" [traceback in {files[0]}]"
        else:
            line += f" [traceback: {FULL_TRACEBACK}=1]"
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def failure_line(error: BaseException, node: str | None) -> str:
    """`kedro run failed in node <node>: <Type>: <message> (raised at <our file:line>)`,
    the message on one line; the root cause (`raise ... from`) is added when it says
    something else."""
    where = f" in node {node}" if node else ""
    text = f"kedro run failed{where}: {_described(error)}"
    root = _root_cause(error)
    if root is not error and str(root) not in str(error):
        text += f"; cause: {_described(root)}"
    raised = _raised_at(root) or _raised_at(error)
    return f"{text} (raised at {raised})" if raised else text


def _root_cause(error: BaseException) -> BaseException:
    """The last explicit cause; a worker's formatted traceback (what a process pool chains
    to the error it passes back) is not one."""
    seen = {id(error)}
    while (cause := error.__cause__) is not None and id(cause) not in seen:
        if "Traceback (most recent call last)" in str(cause):
            break
        seen.add(id(cause))
        error = cause
    return error


def _described(error: BaseException) -> str:
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _raised_at(error: BaseException) -> str | None:
    """The innermost frame of this package that the error went through."""
    marker = f"{os.sep}unimed_kedro{os.sep}"
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if marker in frame.filename:
            return f"unimed_kedro{os.sep}{frame.filename.rsplit(marker, 1)[1]}:{frame.lineno}"
    return None


def _caused_by(error: BaseException, node_error: BaseException | None) -> bool:
    """Whether `error` is the failed node's error, or was raised from or while handling it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if current is node_error:
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
