"""How the command lines report bad input: one line on stderr naming the problem, exit status 2.

The project's errors about input (configs, datasets, bags, policy files, hand versions, unknown
names) are ``ValueError`` subclasses or ``OSError`` (a missing file) and carry a message that
names the file, topic or field. Anything else is a bug and keeps its traceback.
``DEXNDM_TRACEBACK=1`` shows the traceback of input errors too.
"""
from __future__ import annotations

import os
import sys
from typing import Callable


def input_error_types() -> tuple[type[BaseException], ...]:
    from dexndm_learning.ndm.bag_ingest import BagError

    return (ValueError, OSError, BagError)


def run_reporting_input_errors(prog: str, fn: Callable[[], int | None]) -> int:
    """``fn()``'s status, or 2 with ``prog: error: <message>`` on stderr for an input error."""
    try:
        return fn() or 0
    except input_error_types() as exc:
        if os.environ.get("DEXNDM_TRACEBACK"):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
