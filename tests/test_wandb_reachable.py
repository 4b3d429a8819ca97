"""The once-per-run W&B reachability check, against loopback ports only."""

from __future__ import annotations

import socket
import time

from hyperparameter_system.tracking.wandb_run import base_url, offline_fallback, reachable


def test_base_url_is_wandb_base_url_or_the_public_server() -> None:
    assert base_url({"WANDB_BASE_URL": "http://127.0.0.1:8080"}) == "http://127.0.0.1:8080"
    assert base_url({}) == "https://api.wandb.ai"


def test_a_listening_server_is_reachable_and_needs_no_fallback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        assert reachable(url)
        assert offline_fallback("online", "X", {"WANDB_BASE_URL": url}) is None


def test_a_closed_port_gives_one_warning_line_quickly() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
        env = {"WANDB_BASE_URL": f"http://127.0.0.1:{closed.getsockname()[1]}"}
        started = time.monotonic()
        line = offline_fallback("online", "out/*/wandb/offline-run-*", env)
        assert time.monotonic() - started < 10  # refused at once; never more than the 3 s limit plus slack
    assert line is not None and "\n" not in line
    assert "cannot be reached" in line and "wandb sync out/*/wandb/offline-run-*" in line
    assert offline_fallback("offline", "X", env) is None  # only an online run is checked
