"""Whether a process lives: how leftovers (journals, temporary folders) of killed processes are told apart."""
from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
