"""Who holds a claim (a running job, a publish lock): ``host:pid``, and whether that process still lives."""

from __future__ import annotations

import os
import socket

HOST = socket.gethostname()


def me() -> str:
    """This process, as ``host:pid``."""
    return f"{HOST}:{os.getpid()}"


def alive(holder: str) -> bool:
    """False only when ``holder`` is a process of this machine that is gone; another
    machine's process is assumed alive (only a heartbeat can tell)."""
    host, _, pid = holder.rpartition(":")
    if host != HOST or not pid.isdigit():
        return True
    return pid_alive(int(pid))


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
