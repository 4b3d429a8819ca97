"""Whether a stop signal reached the wrapper's whole process group or the wrapper alone.

The user's command shares the wrapper's process group, so the runner's
group-wide SIGTERM reaches it directly; the wrapper must pass a signal on only
when it was sent to the wrapper alone, or a script that counts its SIGTERMs
(first: stop gracefully, second: stop now) would see two. A signal does not
say how it was sent, so a tiny forked process in the same group blocks the stop
signals: a group-wide one stays pending there, visible in ``/proc``.
"""

from __future__ import annotations

import os
import signal
import time

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
SETTLE_S = 0.05  # how long a group signal may take to reach every member of the group


class GroupProbe:
    """A member of the wrapper's process group that only holds the stop signals sent to the group."""

    def __init__(self) -> None:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # blocked before the fork: no gap
        self.pid = os.fork()
        if self.pid == 0:
            _hold(os.getppid())
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def group_got(self, signum: int) -> bool:
        """True when ``signum`` was sent to the group (it is pending in the probe)."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            if self._pending() & (1 << (signum - 1)):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def _pending(self) -> int:
        try:
            status = open(f"/proc/{self.pid}/status", encoding="ascii").read()
        except OSError:
            return 0  # no /proc or no probe: the signal is passed on, as without one
        masks = [line.split()[1] for line in status.splitlines() if line.startswith(("SigPnd:", "ShdPnd:"))]
        return sum(int(mask, 16) for mask in masks)

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _hold(parent: int) -> None:
    """The probe's whole life: sleep with the stop signals blocked until the wrapper is gone."""
    try:
        while os.getppid() == parent:
            time.sleep(0.5)
    finally:
        os._exit(0)
