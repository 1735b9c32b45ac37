"""Add up the virtual time that a folder of scenario files covers.

Usage: virtual_time.py DIR

Reads the durations the scenario format defines (docs/scenarios.md):
each `advance`, the `settle` after the last step (3 days unless the file
sets it), and the `within` bound of each `wait_until`. A `wait_until`
stops advancing once its condition holds, so its share is only known to
be between zero and `within`; the output gives both ends. Prints
`RESULT files=N min_seconds=… max_seconds=…`.
"""

import re
import sys
from pathlib import Path

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_SETTLE = 3 * 86400


def seconds(text):
    """Parse `90`, `90s`, `5m`, `1h30m` or `23h59m` into seconds."""
    text = text.strip().strip("\"'")
    if text.isdigit():
        return int(text)
    parts = re.findall(r"(\d+)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration `{text}`")
    return sum(int(n) * UNIT_SECONDS[u] for n, u in parts)


def covered(path):
    """Return (minimum, maximum) virtual seconds one scenario file covers."""
    text = path.read_text()
    advanced = sum(seconds(m) for m in re.findall(r"advance:\s*([^\s,}#]+)", text))
    waits = sum(seconds(m) for m in re.findall(r"within:\s*([^\s,}#]+)", text))
    settle = re.search(r"^settle:\s*([^\s#]+)", text, re.MULTILINE)
    settled = seconds(settle.group(1)) if settle else DEFAULT_SETTLE
    return advanced + settled, advanced + settled + waits


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    files = sorted(Path(sys.argv[1]).rglob("*.yaml"))
    low = high = 0
    for path in files:
        lo, hi = covered(path)
        low += lo
        high += hi
    print(f"RESULT files={len(files)} min_seconds={low} max_seconds={high}")


if __name__ == "__main__":
    main()
