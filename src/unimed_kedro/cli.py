"""Project CLI: Kedro's own `kedro run`, with `ThreadRunner` as the default runner.

Why: the heavy nodes hand their per-sample work to worker processes (`engine/`) and only
wait for it, so while one of them runs, the parent can run the light nodes that do not
depend on it (captions while images are normalised; reports while shards are written).
Outputs do not depend on the runner; `--runner SequentialRunner` still works, and a
`--config` file's `runner:` still wins over this default.
"""

from __future__ import annotations

import copy

import click
from kedro.framework.cli.project import run as kedro_run

from unimed_kedro import DEFAULT_RUNNER


def _with_default_runner(command: click.Command, runner: str) -> click.Command:
    changed = copy.copy(command)
    changed.params = [copy.copy(p) for p in command.params]
    for param in changed.params:
        if param.name == "runner":
            param.default = runner
            param.help = f"{param.help} Default here: {runner}."
    return changed


@click.group(name="unimed_kedro")
def cli() -> None:
    """Commands of the unimed_kedro project."""


cli.add_command(_with_default_runner(kedro_run, DEFAULT_RUNNER), "run")
