"""Suite-wide settings: nothing here may reach a network.

W&B runs for real but offline: no API key reaches a test, so an experiment's
``wandb: auto`` resolves to offline, and a test that wants W&B off says so in
its experiment file (a suite-wide ``WANDB_MODE`` would win over every file and
make each cell of those tests import wandb and write a run nobody reads).
Hugging Face hub lookups fail fast instead of retrying for ~47 s.

The suite may be started in the background (``make test &``, some CI runners),
where the shell starts it with SIGINT ignored; every child would inherit that,
and a Python child would never see the Ctrl-C a test sends it (see
``children_get_ctrl_c``).
"""

from __future__ import annotations

import os
import signal

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.pop("WANDB_MODE", None)
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")
os.environ.pop("WANDB_API_KEY", None)


@pytest.fixture(autouse=True)
def children_get_ctrl_c() -> None:
    """Children start as a terminal's foreground job: SIGINT neither ignored nor blocked.

    Dispositions set to "ignore" and the blocked-signal mask both pass from the
    test process to every child it starts, and a library loaded in-process may
    have left either behind; a test's Ctrl-C must reach the child it is sent to.
    """
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
