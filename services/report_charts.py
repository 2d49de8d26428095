"""The report's charts, drawn with matplotlib (Agg, object API: no pyplot state) as SVG.

SVG keeps the charts sharp on paper; text is drawn as paths, so the file needs no
fonts; the output is deterministic (fixed hash salt, no date) so reports diff cleanly.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from services.reports import LETTER, Report

# Okabe–Ito colours: distinguishable with colour-blindness and in greyscale print.
BLUE, ORANGE, GREY, RED, GREEN = "#0072B2", "#E69F00", "#999999", "#D55E00", "#009E73"
RC: Any = {  # typed loosely: matplotlib types the keys as literals
    "svg.hashsalt": "governance-report",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buffer.getvalue()


def _empty(figure: Figure, message: str) -> bytes:
    axes = figure.subplots()
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color=GREY)
    return _svg(figure)


def response_chart(report: Report) -> bytes:
    """Bars of the first-response time bins, the letter's 14 days marked."""
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(7.5, 3.2))
        labels = [label for label, _ in report.response_bins] + ["Not yet\nanswered"]
        values = [n for _, n in report.response_bins] + [report.queries_unanswered]
        if not any(values):
            return _empty(figure, "No queries in this period")
        axes = figure.subplots()
        colours = [BLUE] * (len(labels) - 2) + [RED, GREY]
        bars = axes.bar(range(len(labels)), values, color=colours, edgecolor="black", linewidth=0.5)
        bars[-1].set_hatch("//")
        axes.bar_label(bars, padding=2)
        axes.set_xticks(range(len(labels)), labels)
        axes.axvline(len(labels) - 2.5, color=RED, linestyle="--", linewidth=1.2)
        axes.text(
            len(labels) - 2.55,
            max(values) * 1.17,
            "two-week letter ",
            color=RED,
            ha="right",
            va="top",
        )
        axes.set_ylim(0, max(values) * 1.2)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel("Queries")
        axes.set_xlabel("Time from question to first answer")
        return _svg(figure)


def weekly_chart(report: Report) -> bytes:
    """Cases (bars) and queries (line) per week of the period."""
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(7.5, 3.2))
        weeks = report.weeks
        if not weeks or not any(w.cases or w.queries for w in weeks):
            return _empty(figure, "No cases or queries in this period")
        axes = figure.subplots()
        x = list(range(len(weeks)))
        axes.bar(x, [w.cases for w in weeks], color=BLUE, label="Cases opened")
        axes.plot(
            x,
            [w.queries for w in weeks],
            color=ORANGE,
            marker="o" if len(weeks) <= 30 else None,
            linewidth=2,
            label="Queries asked",
        )
        step = max(1, len(weeks) // 12)
        axes.set_xticks(x[::step], [w.start.strftime("%d %b %y") for w in weeks][::step])
        axes.tick_params(axis="x", labelrotation=45)
        axes.set_ylabel("Per week")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(frameon=False, loc="upper left")
        return _svg(figure)


def load_chart(report: Report) -> bytes:
    """Open cases per clinician, as named clinician and as deputy."""
    with matplotlib.rc_context(RC):
        clinicians = report.clinicians
        height = max(2.0, 0.35 * len(clinicians) + 1.0)
        figure = Figure(figsize=(7.5, height))
        if not clinicians:
            return _empty(figure, "No clinicians in the directory")
        axes = figure.subplots()
        y = list(range(len(clinicians)))[::-1]
        named = [c.open_named for c in clinicians]
        deputy = [c.open_deputy for c in clinicians]
        axes.barh(y, named, color=BLUE, label="Named clinician")
        axes.barh(y, deputy, left=named, color=GREEN, hatch="..", label="Deputy")
        axes.set_yticks(y, [c.name for c in clinicians])
        axes.set_xlabel("Open cases now")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(frameon=False, loc="lower right")
        if not any(named) and not any(deputy):
            axes.set_xlim(0, 1)
        return _svg(figure)


def mdt_chart(report: Report) -> bytes:
    """Days from referral to MDT outcome sent, one bar per outcome, the letter's 14 days
    marked (bars past it drawn in red and hatched)."""
    with matplotlib.rc_context(RC):
        cases = report.mdt_cases
        figure = Figure(figsize=(7.5, max(2.2, 0.32 * len(cases) + 1.2)))
        if not cases:
            return _empty(figure, "No MDT outcomes in this period")
        axes = figure.subplots()
        letter = LETTER.days
        days = [c.to_outcome / 86400 for c in cases]
        y = list(range(len(cases)))[::-1]
        late = [d > letter for d in days]
        bars = axes.barh(
            y,
            days,
            color=[RED if over else BLUE for over in late],
            edgecolor="black",
            linewidth=0.5,
        )
        for bar, over in zip(bars, late, strict=True):
            if over:
                bar.set_hatch("//")
        axes.bar_label(bars, labels=[f"{d:.1f} d" for d in days], padding=2)
        axes.set_yticks(y, [f"C-{c.case_id} ({c.meeting.strftime('%d %b')})" for c in cases])
        axes.axvline(letter, color=RED, linestyle="--", linewidth=1.2)
        top = max([*days, letter]) * 1.15
        axes.text(letter, len(cases) - 0.4, " two-week letter", color=RED, va="bottom")
        axes.set_xlim(0, top)
        axes.set_ylim(-0.6, len(cases))
        axes.set_xlabel("Days from referral to MDT outcome sent")
        return _svg(figure)
