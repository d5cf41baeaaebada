"""Stopping a helper process the harness started: SIGTERM, then SIGKILL if it outlives the wait."""

import subprocess

STOP_TIMEOUT_SECS = 5.0


def stop_process(process: subprocess.Popen | None, timeout: float = STOP_TIMEOUT_SECS) -> None:
    """Terminate `process` and reap it, killing it after `timeout`; nothing if it is gone or never started."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
