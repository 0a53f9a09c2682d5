"""Crash injection for the loaders: die (or raise) at a named step, to prove exactly-once loading.

Steps, in the order a batch passes them (see loaders/warehouse/base.py):
`before_copy`, `during_copy`, `after_copy` (between COPY and commit), `after_commit`.

Set `UNIFY_LOAD_CRASH_AT=<step>[:<n>]` (the n-th time the step is reached in this process, default 1),
and optionally `UNIFY_LOAD_CRASH_MODE=kill|raise|sleep:<seconds>` (default `kill`: SIGKILL to the
loader's own process, what an OOM kill or a lost Lambda does; `raise`: InjectedCrash, a BaseException
nothing catches by accident; `sleep:<s>`: pause there, holding whatever the step holds, e.g. the load
lock, so that a second loader meets it). The Python API takes the same spec as
`load(..., crash_at="after_copy:2")`, and any callable as `load(..., step_hook=fn)` (called with the
step name; it may raise, kill or wait). The resilience suite (issue 9) can use either.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from loaders.errors import InjectedCrash
from loaders.logs import log_event

STEPS = ("before_copy", "during_copy", "after_copy", "after_commit")
log = logging.getLogger("loaders.crash")


@dataclass(frozen=True)
class CrashPlan:
    step: str
    occurrence: int = 1
    mode: str = "kill"

    @classmethod
    def parse(cls, spec: str, mode: str = "kill") -> "CrashPlan":
        step, _, nth = spec.strip().partition(":")
        if step not in STEPS:
            raise ValueError(f"unknown crash step {step!r}: choose from {', '.join(STEPS)}")
        if mode not in ("kill", "raise") and not _sleep_seconds(mode):
            raise ValueError(f"unknown crash mode {mode!r}: kill, raise or sleep:<seconds>")
        try:
            occurrence = int(nth) if nth else 1
        except ValueError:
            raise ValueError(f"crash occurrence must be a number, not {nth!r}") from None
        return cls(step, max(1, occurrence), mode)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "CrashPlan | None":
        spec = env.get("UNIFY_LOAD_CRASH_AT", "").strip()
        if not spec:
            return None
        return cls.parse(spec, env.get("UNIFY_LOAD_CRASH_MODE", "kill").strip() or "kill")


class Checkpoints:
    """Counts steps as a run passes them and crashes where the plan says."""

    def __init__(self, plan: CrashPlan | None = None, hook: Callable[[str], None] | None = None):
        self.plan = plan
        self.hook = hook
        self.counts: dict[str, int] = {}

    def __call__(self, step: str) -> None:
        self.counts[step] = self.counts.get(step, 0) + 1
        if self.hook is not None:
            self.hook(step)
        plan = self.plan
        if plan is None or plan.step != step or self.counts[step] != plan.occurrence:
            return
        log_event(log, "crash_injected", logging.WARNING, step=step, occurrence=plan.occurrence, mode=plan.mode)
        for handler in logging.getLogger().handlers:
            handler.flush()
        if plan.mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        pause = _sleep_seconds(plan.mode)
        if pause:
            time.sleep(pause)
            return
        raise InjectedCrash(f"injected crash at {step} (occurrence {plan.occurrence})")


def _sleep_seconds(mode: str) -> float:
    if not mode.startswith("sleep:"):
        return 0.0
    try:
        return max(0.0, float(mode[6:]))
    except ValueError:
        return 0.0
