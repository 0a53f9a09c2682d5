"""The loaders' exceptions, in two families that decide what happens next.

- `QuarantineError`: one landed object is unusable as it is (unknown table, corrupt or truncated file,
  malformed line, incompatible schema, a value the raw type rejects). The object is recorded as
  quarantined in the ledger with the reason, never deleted, and the other objects load.
- `LoadFailure`: the run cannot go on (warehouse unreachable, the load lock not granted in time, the
  landing zone unreadable). The batch in flight rolls back whole; a rerun loads what is missing.

Both name the object or resource and the reason in their message.
"""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]+")
REASON_MAX_CHARS = 500


def clean_text(text: str, limit: int = REASON_MAX_CHARS) -> str:
    """A reason fit for a log line and a ledger row: no control bytes or replacement runs, bounded length."""
    text = _UNPRINTABLE.sub("?", str(text)).replace("\n", " ").replace("\t", " ").strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


class LoadError(Exception):
    """Base of the loaders' own errors."""


class QuarantineError(LoadError):
    """The content or the key of one landed object is unusable; quarantine it and go on."""

    def __init__(self, key: str, reason: str, line: int | None = None):
        self.key = key
        self.reason = clean_text(reason)
        self.line = line
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"{key}: {self.reason}{where}")


class LoadFailure(LoadError):
    """The run cannot continue; nothing of the batch in flight is committed."""


class LockTimeout(LoadFailure):
    """Another loader held the load lock for longer than this one was willing to wait."""


class InjectedCrash(BaseException):
    """Raised by the crash-injection hook in `raise` mode (a BaseException: nothing catches it by accident)."""
