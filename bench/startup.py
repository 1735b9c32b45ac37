"""Measure the time from starting a server process to its first HTTP
response.

Usage: startup.py RUNS PORT -- COMMAND...

COMMAND must listen on 127.0.0.1:PORT. Each run starts the process, polls
with `GET /v1/customers?limit=1` over a fresh connection every 0.5 ms until
an HTTP status line comes back, then stops the process by its PID. Prints
one line per run (milliseconds) and a final `RESULT` line with the median,
minimum and maximum.
"""

import socket
import statistics
import subprocess
import sys
import time

REQUEST = (
    b"GET /v1/customers?limit=1 HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"Authorization: Bearer sk_test_startup\r\n"
    b"Connection: close\r\n\r\n"
)
TIMEOUT_SECONDS = 30.0


def responds(port):
    """Return True if the server sent an HTTP status line."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(REQUEST)
            return conn.recv(16).startswith(b"HTTP/1.")
    except OSError:
        return False


def measure(port, command):
    """Start COMMAND and return the milliseconds until its first response."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while not responds(port):
            if process.poll() is not None:
                raise RuntimeError(
                    f"{command[0]} exited with status {process.returncode} before its first response"
                )
            if time.perf_counter() - started > TIMEOUT_SECONDS:
                raise RuntimeError(f"{command[0]} did not respond within {TIMEOUT_SECONDS} s")
            time.sleep(0.0005)
        return (time.perf_counter() - started) * 1000.0
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    runs = int(sys.argv[1])
    port = int(sys.argv[2])
    command = sys.argv[4:]
    times = []
    for _ in range(runs):
        elapsed = measure(port, command)
        times.append(elapsed)
        print(f"{elapsed:.1f}")
    print(
        f"RESULT median_ms={statistics.median(times):.1f} "
        f"min_ms={min(times):.1f} max_ms={max(times):.1f} runs={runs}"
    )


if __name__ == "__main__":
    main()
