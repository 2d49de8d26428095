"""Run every benchmark several times and write one Markdown table and one JSON file.

    .venv/bin/python bench/run_all.py              # everything, 3 runs each (about 35 minutes)
    .venv/bin/python bench/run_all.py --quick      # smaller sizes, to check the harness

Each benchmark runs in a fresh process (`bench/<name>.py --json ...`); each figure is
the median of `--runs` runs with its min and max. Results go to `bench/results/`
(git-ignored): `results.md` and `results.json`. Figures are from a shared machine: read
the ratios (this bot against bare python-telegram-bot, 100,000 cases against 1,000),
which are measured within one run, rather than the absolute rates.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

JSON = dict[str, Any]


@dataclass
class Figure:
    benchmark: str
    name: str
    pick: Callable[[JSON], float]
    unit: str
    target: str = ""


def _run(script: str, args: list[str]) -> JSON:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.json"
        subprocess.run(
            [sys.executable, str(HERE / script), *args, "--json", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return dict(json.loads(out.read_text()))


def _throughput_ratio(data: JSON) -> float:
    return float(data["ratio"])


def plan(quick: bool) -> list[tuple[str, str, list[str], list[Figure]]]:
    users = "40" if quick else "200"
    big = "5000" if quick else "100000"
    ours = "this_bot"
    return [
        (
            "throughput",
            "throughput.py",
            ["--users", users, "--rounds", "2"],
            [
                Figure(
                    "throughput",
                    "bare PTB echo, updates/s",
                    lambda d: d["bare_ptb_echo"]["updates_per_s"],
                    "upd/s",
                ),
                Figure(
                    "throughput",
                    "bare PTB echo storing each update (reference), updates/s",
                    lambda d: d["bare_ptb_echo_storing"]["updates_per_s"],
                    "upd/s",
                ),
                Figure(
                    "throughput", "this bot, updates/s", lambda d: d[ours]["updates_per_s"], "upd/s"
                ),
                Figure("throughput", "ratio this bot / bare PTB", _throughput_ratio, "", ">= 0.5"),
                Figure(
                    "throughput",
                    "ratio storing echo / bare PTB (reference)",
                    lambda d: d["ratio_storing_echo"],
                    "",
                ),
                Figure(
                    "throughput",
                    "CPU per update, bare PTB",
                    lambda d: d["bare_ptb_echo"]["cpu_ms_per_update"],
                    "ms",
                ),
                Figure(
                    "throughput",
                    "CPU per update, this bot",
                    lambda d: d[ours]["cpu_ms_per_update"],
                    "ms",
                ),
                Figure(
                    "throughput",
                    f"this bot p99 at saturation ({users} users)",
                    lambda d: d[ours]["p99_ms"],
                    "ms",
                ),
            ],
        ),
        (
            "latency",
            "throughput.py",
            ["--users", "1", "--rounds", "20"],
            [
                Figure(
                    "latency",
                    "bare PTB p50, one user",
                    lambda d: d["bare_ptb_echo"]["p50_ms"],
                    "ms",
                ),
                Figure("latency", "this bot p50, one user", lambda d: d[ours]["p50_ms"], "ms"),
                Figure("latency", "this bot p95, one user", lambda d: d[ours]["p95_ms"], "ms"),
                Figure(
                    "latency", "this bot p99, one user", lambda d: d[ours]["p99_ms"], "ms", "< 100"
                ),
            ],
        ),
        (
            "scaling-1k",
            "throughput.py",
            ["--users", users, "--rounds", "1", "--cases", "1000"],
            [
                Figure(
                    "scaling",
                    "this bot with 1,000 cases, updates/s",
                    lambda d: d[ours]["updates_per_s"],
                    "upd/s",
                )
            ],
        ),
        (
            "scaling-big",
            "throughput.py",
            ["--users", users, "--rounds", "1", "--cases", big],
            [
                Figure(
                    "scaling",
                    f"this bot with {int(big):,} cases ({int(big) * 10:,} messages), updates/s",
                    lambda d: d[ours]["updates_per_s"],
                    "upd/s",
                )
            ],
        ),
        (
            "encryption",
            "encryption.py",
            ["--n", "2000" if quick else "20000", "--rounds", "5" if quick else "10"],
            [
                Figure(
                    "encryption",
                    "encrypt a short field",
                    lambda d: d["per_field"]["encrypt_short_field_us"],
                    "µs",
                ),
                Figure(
                    "encryption",
                    "decrypt a short field",
                    lambda d: d["per_field"]["decrypt_short_field_us"],
                    "µs",
                ),
                Figure(
                    "encryption",
                    "encrypt a message body",
                    lambda d: d["per_field"]["encrypt_message_body_us"],
                    "µs",
                ),
                Figure(
                    "encryption",
                    "decrypt a message body",
                    lambda d: d["per_field"]["decrypt_message_body_us"],
                    "µs",
                ),
                Figure(
                    "encryption",
                    "blind index (HMAC)",
                    lambda d: d["per_field"]["blind_index_us"],
                    "µs",
                ),
                Figure(
                    "encryption",
                    "/case handler time",
                    lambda d: d["case"]["handler_ms_per_case_request"],
                    "ms",
                ),
                Figure(
                    "encryption",
                    "share of /case spent decrypting",
                    lambda d: d["case"]["decrypt_share_of_case_request"] * 100,
                    "%",
                ),
            ],
        ),
        (
            "delivery",
            "delivery.py",
            ["--messages", "1000" if quick else "10000", "--scale", "2"],
            [
                Figure(
                    "delivery",
                    "sent per second (configured 25/s)",
                    lambda d: d["throughput"]["messages_per_s"],
                    "msg/s",
                ),
                Figure(
                    "delivery", "commit to Telegram p99", lambda d: d["latency"]["p99_ms"], "ms"
                ),
            ],
        ),
        (
            "reminders",
            "reminders.py",
            [
                "--reminders",
                "10000" if quick else "100000",
                "--due",
                "1000" if quick else "10000",
                # 2x: both clocks twice as fast, still within what one core can send
                "--scale",
                "2",
            ],
            [
                Figure(
                    "reminders",
                    "start-up time, full / empty",
                    lambda d: _startup(d, "start_s_median", ratio=True),
                    "x",
                    "<= 2",
                ),
                Figure(
                    "reminders",
                    "start-up memory, full - empty",
                    lambda d: _startup(d, "max_rss_mb_median", ratio=False),
                    "MB",
                    "<= 50",
                ),
                Figure(
                    "reminders",
                    "due reminders drained per second (configured 25/s)",
                    lambda d: d["drain"]["per_s"],
                    "/s",
                ),
            ],
        ),
        (
            "report",
            "report.py",
            ["--sizes", f"1000,{big}", "--runs", "1"],
            [
                Figure("report", "figures + html, 1,000 cases", lambda d: _report_total(d, 0), "s"),
                Figure(
                    "report",
                    f"figures + html, {int(big):,} cases",
                    lambda d: _report_total(d, -1),
                    "s",
                    "< 10",
                ),
            ],
        ),
    ]


def _startup(data: JSON, key: str, *, ratio: bool) -> float:
    startup = data["startup"]
    empty = float(startup["empty"][key])
    full = float(next(v for k, v in startup.items() if k != "empty")[key])
    return full / empty if ratio else full - empty


def _report_total(data: JSON, index: int) -> float:
    timings = data["results"][index]["timings"]
    return float(timings["figures"]["median"] + timings["html"]["median"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated benchmark names")
    args = parser.parse_args()
    chosen = set(args.only.split(",")) if args.only else None
    rows: list[JSON] = []
    raw: dict[str, list[JSON]] = {}
    for name, script, script_args, figures in plan(args.quick):
        if chosen and name not in chosen:
            continue
        runs = []
        for n in range(args.runs):
            started = time.monotonic()
            print(f"{name} run {n + 1}/{args.runs} ...", file=sys.stderr, flush=True)
            runs.append(_run(script, script_args))
            print(f"  {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        raw[name] = runs
        for figure in figures:
            values = [figure.pick(r) for r in runs]
            rows.append(
                {
                    "benchmark": figure.benchmark,
                    "figure": figure.name,
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                    "unit": figure.unit,
                    "target": figure.target,
                    "runs": len(values),
                }
            )
    lines = [
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{'quick' if args.quick else 'full'} sizes, {args.runs} run(s) each.",
        "",
        "| benchmark | figure | median | min | max | unit | target |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['benchmark']} | {r['figure']} | {r['median']:.3g} | {r['min']:.3g} "
            f"| {r['max']:.3g} | {r['unit']} | {r['target']} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "results.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "results.json").write_text(json.dumps({"rows": rows, "raw": raw}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
