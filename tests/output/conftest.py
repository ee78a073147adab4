"""Shared helpers: the gcannon binary, a built-in target server, free ports."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GCANNON = os.environ.get("GCANNON", str(ROOT / "target" / "debug" / "gcannon"))


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Block until something accepts on 127.0.0.1:port (fail if `proc` died first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"process exited early with {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port} after {timeout}s")


@pytest.fixture(scope="session")
def gcannon() -> str:
    """Path of the gcannon binary under test."""
    assert pathlib.Path(GCANNON).is_file(), f"{GCANNON} missing: build it (tests/output/run.sh does)"
    return GCANNON


@pytest.fixture(scope="session")
def target(gcannon):
    """URL of a built-in `gcannon serve` on loopback, for the whole session."""
    port = free_port()
    proc = subprocess.Popen(
        [gcannon, "serve", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_json(args: list[str], timeout: float = 60) -> tuple[int, dict]:
    """Run gcannon with --json; return its exit code and the result object."""
    out = subprocess.run(args + ["--json"], capture_output=True, text=True, timeout=timeout)
    assert out.stdout.strip(), f"no JSON on stdout (exit {out.returncode}): {out.stderr}"
    return out.returncode, json.loads(out.stdout)
