"""Run every benchmark several times and write one Markdown table and one JSON file.

    .venv/bin/python bench/run_all.py              # everything, 3 runs each (about 35 minutes)
    .venv/bin/python bench/run_all.py --quick      # smaller sizes, to check the harness

Each benchmark runs in a fresh process (`bench/<name>.py --json ...`); each figure is
the median of `--runs` runs with its min and max. Results go to `bench/results/`
(git-ignored): `results.md` and `results.json`. Figures are from a shared machine: read
the ratios (this bot against bare python-telegram-bot and against the echo bot storing
each update, 100,000 cases against 1,000), which are measured within one run, rather
than the absolute rates. Throughput and latency are on SQLite, and on PostgreSQL as well
when TEST_DATABASE_URL is set (bench/throughput.py makes a throw-away database there).
"""

from __future__ import annotations

import argparse
import json
import os
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


def _startup(data: JSON, key: str, *, ratio: bool) -> float:
    startup = data["startup"]
    empty = float(startup["empty"][key])
    full = float(next(v for k, v in startup.items() if k != "empty")[key])
    return full / empty if ratio else full - empty


def _startup_ratio(data: JSON) -> float:
    return _startup(data, "start_s_median", ratio=True)


def _startup_growth(data: JSON) -> float:
    return _startup(data, "max_rss_mb_median", ratio=False)


def _report_total(data: JSON, index: int) -> float:
    timings = data["results"][index]["timings"]
    return float(timings["figures"]["median"] + timings["html"]["median"])


def _path(key: str) -> Callable[[JSON], float]:
    def pick(data: JSON) -> float:
        for part in key.split("."):
            data = data[part]
        return data  # type: ignore[return-value]

    return pick


def _pick(pick: str | Callable[[JSON], float]) -> Callable[[JSON], float]:
    return _path(pick) if isinstance(pick, str) else pick


def _percent(key: str) -> Callable[[JSON], float]:
    return lambda data: _path(key)(data) * 100


SIZES: dict[str, dict[str, int]] = {
    "full": {
        "users": 200,
        "big": 100_000,
        "n": 20_000,
        "crypto_rounds": 10,
        "messages": 10_000,
        "reminders": 100_000,
        "due": 10_000,
    },
    "quick": {
        "users": 40,
        "big": 5000,
        "n": 2000,
        "crypto_rounds": 5,
        "messages": 1000,
        "reminders": 10_000,
        "due": 1000,
    },
}

# Each benchmark by name (for --only): its script and arguments; its "benchmark" column is
# the name up to a "-". Arguments and figure names may use the sizes of SIZES ({big}, ...).
BENCHMARKS: dict[str, tuple[str, str]] = {
    # throughput.py runs the bare echo, then the storing echo and this bot on each backend
    # of BACKENDS; one run per process here, the runs being repeated below.
    "throughput": ("throughput.py", "--users {users} --rounds 2 --runs 1"),
    "latency": ("throughput.py", "--one-user --rounds 40 --runs 1"),
    "scaling-1k": (
        "throughput.py",
        "--users {users} --rounds 1 --cases 1000 --runs 1 --backend sqlite",
    ),
    "scaling-big": (
        "throughput.py",
        "--users {users} --rounds 1 --cases {big} --runs 1 --backend sqlite",
    ),
    "encryption": ("encryption.py", "--n {n} --rounds {crypto_rounds}"),
    "delivery": ("delivery.py", "--messages {messages} --scale 2"),
    # --scale 2: both clocks twice as fast, still within what one core can send
    "reminders": ("reminders.py", "--reminders {reminders} --due {due} --scale 2"),
    "report": ("report.py", "--sizes 1000,{big} --runs 1"),
}
Pick = str | Callable[[JSON], float]  # a path in the JSON (dots between keys), or a function
# throughput.py's backends: as its default, PostgreSQL too when TEST_DATABASE_URL is set.
BACKENDS = ["sqlite", *(["postgres"] if os.environ.get("TEST_DATABASE_URL") else [])]


def _per_backend(figures: list[tuple[str, str, str, str]]) -> list[tuple[str, Pick, str, str]]:
    """`figures` (with {backend} in the name and path) once per backend of BACKENDS."""
    return [
        (name.replace("{backend}", b), path.replace("{backend}", b), unit, target)
        for b in BACKENDS
        for name, path, unit, target in figures
    ]


# The figures of each benchmark, in table order: (figure, pick, unit, target).
FIGURES: dict[str, list[tuple[str, Pick, str, str]]] = {
    "throughput": [
        ("bare PTB echo, updates/s", "bare_echo.median.updates_per_s", "upd/s", ""),
        ("CPU per update, bare PTB", "bare_echo.median.cpu_ms_per_update", "ms", ""),
        *_per_backend(
            [
                (
                    "bare PTB echo storing each update (reference), {backend}, updates/s",
                    "backends.{backend}.storing_echo.median.updates_per_s",
                    "upd/s",
                    "",
                ),
                (
                    "this bot, {backend}, updates/s",
                    "backends.{backend}.this_bot.median.updates_per_s",
                    "upd/s",
                    "",
                ),
                (
                    "ratio this bot / bare PTB, {backend}",
                    "backends.{backend}.ratio_to_bare.median",
                    "",
                    ">= 0.5",
                ),
                (
                    "ratio this bot / storing echo, {backend}",
                    "backends.{backend}.ratio_to_storing.median",
                    "",
                    ">= 1.0",  # issue 20: the peer with the same promise
                ),
                (
                    "ratio storing echo / bare PTB (reference), {backend}",
                    "backends.{backend}.ratio_storing_to_bare.median",
                    "",
                    "",
                ),
                (
                    "CPU per update, this bot, {backend}",
                    "backends.{backend}.this_bot.median.cpu_ms_per_update",
                    "ms",
                    "",
                ),
                (
                    "this bot p99 at saturation ({users} users), {backend}",
                    "backends.{backend}.this_bot.median.p99_ms",
                    "ms",
                    "",
                ),
            ]
        ),
    ],
    "latency": [
        ("bare PTB p50, one user", "bare_echo.median.p50_ms", "ms", ""),
        *_per_backend(
            [
                (
                    "this bot p50, one user, {backend}",
                    "backends.{backend}.this_bot.median.p50_ms",
                    "ms",
                    "",
                ),
                (
                    "this bot p95, one user, {backend}",
                    "backends.{backend}.this_bot.median.p95_ms",
                    "ms",
                    "",
                ),
                (
                    "this bot p99, one user, {backend}",
                    "backends.{backend}.this_bot.median.p99_ms",
                    "ms",
                    "< 100",
                ),
            ]
        ),
    ],
    "scaling-1k": [
        (
            "this bot with 1,000 cases, updates/s",
            "backends.sqlite.this_bot.median.updates_per_s",
            "upd/s",
            "",
        ),
    ],
    "scaling-big": [
        (
            "this bot with {big:,} cases ({big_messages:,} messages), updates/s",
            "backends.sqlite.this_bot.median.updates_per_s",
            "upd/s",
            "",
        ),
    ],
    "encryption": [
        ("encrypt a short field", "per_field.encrypt_short_field_us", "µs", ""),
        ("decrypt a short field", "per_field.decrypt_short_field_us", "µs", ""),
        ("encrypt a message body", "per_field.encrypt_message_body_us", "µs", ""),
        ("decrypt a message body", "per_field.decrypt_message_body_us", "µs", ""),
        ("blind index (HMAC)", "per_field.blind_index_us", "µs", ""),
        ("/case handler time", "case.handler_ms_per_case_request", "ms", ""),
        (
            "share of /case spent decrypting",
            _percent("case.decrypt_share_of_case_request"),
            "%",
            "",
        ),
    ],
    "delivery": [
        ("sent per second (configured 25/s)", "throughput.messages_per_s", "msg/s", ""),
        ("commit to Telegram p99", "latency.p99_ms", "ms", ""),
    ],
    "reminders": [
        ("start-up time, full / empty", _startup_ratio, "x", "<= 2"),
        ("start-up memory, full - empty", _startup_growth, "MB", "<= 50"),
        ("due reminders drained per second (configured 25/s)", "drain.per_s", "/s", ""),
    ],
    "report": [
        ("figures + html, 1,000 cases", lambda d: _report_total(d, 0), "s", ""),
        ("figures + html, {big:,} cases", lambda d: _report_total(d, -1), "s", "< 10"),
    ],
}


def plan(quick: bool) -> list[tuple[str, str, list[str], list[Figure]]]:
    """BENCHMARKS at the chosen sizes: (name, script, arguments, figures) per benchmark."""
    sizes = SIZES["quick" if quick else "full"]
    sizes = {**sizes, "big_messages": sizes["big"] * 10}
    return [
        (
            name,
            script,
            args.format(**sizes).split(),
            [
                Figure(name.partition("-")[0], figure.format(**sizes), _pick(pick), unit, target)
                for figure, pick, unit, target in FIGURES[name]
            ],
        )
        for name, (script, args) in BENCHMARKS.items()
    ]


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
