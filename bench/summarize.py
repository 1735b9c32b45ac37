"""Turn the raw results of bench/run.sh into Markdown tables.

Usage: summarize.py RESULTS_DIR

Ratios are taken within a round, where both targets ran minutes apart on
the same machine. They are then summarised as the median and the range
over rounds, so a slow phase of a shared machine shows up as spread, not
as a false ratio.
"""

import csv
import statistics
import sys
from pathlib import Path

# (numerator, denominator, target ratio or None, note)
RATIOS = [
    (("fakestripe", "session_create"), ("localstripe", "payment_intent_create"), 10.0,
     "localstripe has no Checkout; payment intents are its nearest endpoint"),
    (("fakestripe", "session_retrieve"), ("localstripe", "payment_intent_retrieve"), 10.0,
     "as above"),
    (("fakestripe", "payment_intent_create"), ("localstripe", "payment_intent_create"), None,
     "same endpoint"),
    (("fakestripe", "payment_intent_retrieve"), ("localstripe", "payment_intent_retrieve"), None,
     "same endpoint"),
    (("fakestripe", "customer_create"), ("localstripe", "customer_create"), 10.0,
     "same endpoint"),
    (("fakestripe", "customer_retrieve"), ("localstripe", "customer_retrieve"), 10.0,
     "same endpoint"),
    (("fakestripe", "session_create"), ("stateful-mock", "customer_create"), None,
     "stripe-stateful-mock has neither Checkout nor payment intents; customers are its nearest"),
    (("fakestripe", "session_retrieve"), ("stateful-mock", "customer_retrieve"), None,
     "as above"),
    (("fakestripe", "customer_create"), ("stateful-mock", "customer_create"), None,
     "same endpoint"),
    (("fakestripe", "customer_retrieve"), ("stateful-mock", "customer_retrieve"), None,
     "same endpoint"),
    (("fakestripe", "session_create"), ("ceiling", "session_create"), 0.7,
     "bare axum handler, same response bytes"),
    (("fakestripe", "session_retrieve"), ("ceiling", "session_retrieve"), 0.7,
     "bare axum handler, same response bytes"),
]


def parse_fields(text):
    """Split `key=value key=value` into a dict of floats."""
    fields = {}
    for pair in text.split():
        key, _, value = pair.partition("=")
        fields[key] = float(value)
    return fields


def spread(values, fmt):
    """Format the median and the range of VALUES."""
    median = statistics.median(values)
    if len(values) == 1:
        return fmt.format(median)
    return f"{fmt.format(median)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def throughput(results):
    rows = {}
    with open(results / "throughput.tsv", newline="") as handle:
        for record in csv.DictReader(handle, delimiter="\t"):
            key = (record["target"], record["job"])
            rows.setdefault(key, {})[int(record["round"])] = parse_fields(record["result"])

    print("## Throughput and latency\n")
    print("Median over rounds, range in brackets. Latency is measured under the")
    print("same full load, so it includes queueing.\n")
    print("| target | job | requests/s | p50 ms | p99 ms | status >= 400 | socket errors |")
    print("|---|---|---|---|---|---|---|")
    for (target, job), rounds in rows.items():
        runs = list(rounds.values())
        print(
            f"| {target} | {job} "
            f"| {spread([r['rps'] for r in runs], '{:.0f}')} "
            f"| {spread([r['p50_us'] / 1000 for r in runs], '{:.2f}')} "
            f"| {spread([r['p99_us'] / 1000 for r in runs], '{:.2f}')} "
            f"| {sum(int(r['status_errors']) for r in runs)} "
            f"| {sum(int(r['socket_errors']) for r in runs)} |"
        )

    print("\n## Ratios\n")
    print("Throughput of the first over the second, per round; median (range).\n")
    print("| fakestripe job | over | ratio | target | met in every round | note |")
    print("|---|---|---|---|---|---|")
    for numerator, denominator, target, note in RATIOS:
        top, bottom = rows.get(numerator, {}), rows.get(denominator, {})
        shared = sorted(set(top) & set(bottom))
        if not shared:
            continue
        ratios = [top[r]["rps"] / bottom[r]["rps"] for r in shared]
        if target is None:
            goal, met = "", ""
        else:
            goal = f">= {target:g}"
            met = "yes" if min(ratios) >= target else (
                "median only" if statistics.median(ratios) >= target else "no")
        print(
            f"| {numerator[1]} | {denominator[0]} {denominator[1]} "
            f"| {spread(ratios, '{:.2f}')} | {goal} | {met} | {note} |"
        )


def startup(results):
    path = results / "startup.tsv"
    if not path.exists():
        return
    print("\n## Startup to the first HTTP response\n")
    print("| target | median ms | min ms | max ms | runs |")
    print("|---|---|---|---|---|")
    for line in path.read_text().splitlines():
        target, _, fields = line.partition("\t")
        values = parse_fields(fields)
        print(
            f"| {target} | {values['median_ms']:.1f} | {values['min_ms']:.1f} "
            f"| {values['max_ms']:.1f} | {values['runs']:.0f} |"
        )


def memory(results):
    path = results / "memory.tsv"
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    print("\n## Memory of fakestripe while one account fills with sessions\n")
    print("| sessions | VmRSS MiB | VmHWM MiB |")
    print("|---|---|---|")
    for row in rows:
        print(
            f"| {int(row['sessions']):,} | {int(row['vm_rss_kib']) / 1024:.1f} "
            f"| {int(row['vm_hwm_kib']) / 1024:.1f} |"
        )
    first, last = rows[0], rows[-1]
    sessions = int(last["sessions"]) - int(first["sessions"])
    if sessions > 0:
        grown = (int(last["vm_rss_kib"]) - int(first["vm_rss_kib"])) * 1024
        print(f"\nGrowth: {grown / sessions / 1024:.1f} KiB per session.")


def scenarios(results):
    path = results / "scenarios.txt"
    if not path.exists():
        return
    print("\n## Scenario suite\n")
    print("```")
    print(path.read_text().rstrip())
    print("```")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    results = Path(sys.argv[1])
    machine = results / "machine.txt"
    if machine.exists():
        print("```")
        print(machine.read_text().rstrip())
        print("```\n")
    throughput(results)
    startup(results)
    memory(results)
    scenarios(results)


if __name__ == "__main__":
    main()
