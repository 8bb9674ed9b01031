"""The answer of `caseflowctl whatif`, three ways: rich tables for a terminal, JSON for machines, and one
self-contained HTML page (tables and inline SVG bar charts, no script, no network) to pass around."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

#: (title, key in a summary's JSON, the columns that name a row)
_COUNTED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Breaches by metric, level and station", "breaches", ("metric", "level", "station")),
    ("Payouts by claim kind, platform and station (fen)", "payouts_fen", ("claim_kind", "platform", "station")),
    ("Chargebacks by claim kind, platform and station (fen)", "chargebacks_fen", ("claim_kind", "platform", "station")),
)


def _rows(before: dict[str, Any], after: dict[str, Any] | None, key: str, names: tuple[str, ...]) -> list[list[str]]:
    value = "count" if key == "breaches" else "fen"
    was = {tuple(r[n] for n in names): r[value] for r in before[key]}
    now = {tuple(r[n] for n in names): r[value] for r in after[key]} if after else {}
    rows = []
    for row in sorted(set(was) | set(now)):
        cells = [*row, str(was.get(row, 0))]
        if after is not None:
            cells += [str(now.get(row, 0)), f"{now.get(row, 0) - was.get(row, 0):+d}"]
        rows.append(cells)
    return rows


def _mapping(before: dict[str, Any], after: dict[str, Any] | None, key: str) -> list[list[str]]:
    was, now = before[key], (after or {}).get(key, {})
    rows = []
    for name in sorted(set(was) | set(now)):
        cells = [name, str(was.get(name, 0))]
        if after is not None:
            cells += [str(now.get(name, 0)), f"{now.get(name, 0) - was.get(name, 0):+d}"]
        rows.append(cells)
    return rows


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def tables(answer: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table of the answer; the same for the terminal and the page."""
    before, after = answer["baseline"], answer["candidate"]
    side = ["recorded policies"] + (["candidate", "change"] if after else [])
    out: list[tuple[str, list[str], list[list[str]]]] = []
    headline = [
        ["breaches", str(before["breaches_total"])],
        ["QA points", str(before["qa_points_total"])],
        ["callback rate", _rate(before["callback_rate"])],
        ["48-hour resolution rate", _rate(before["resolution_48h_rate"])],
    ]
    if after:
        keys = ("breaches_total", "qa_points_total", "callback_rate", "resolution_48h_rate")
        for row, key in zip(headline, keys, strict=True):
            row.append(str(after[key]) if key.endswith("total") else _rate(after[key]))
            row.append(f"{after[key] - before[key]:+d}" if key.endswith("total") else "")
    out.append(("Headline", ["", *side], headline))
    for title, key, names in _COUNTED:
        out.append((title, [*names, *side], _rows(before, after, key, names)))
    out.append(("QA points per station", ["station", *side], _mapping(before, after, "qa_points")))
    out.append(("Escalations by level", ["level", *side], _mapping(before, after, "escalations")))
    if after:
        changed = [
            [c["case_id"], "; ".join(c["before"]) or "-", "; ".join(c["after"]) or "-"] for c in answer["changed_cases"]
        ]
        out.append(("Cases whose outcome changed", ["case", "before", "after"], changed))
        impossible = [[i["case_id"], i["event_type"], i["reason"]] for i in answer["impossible_actions"]]
        out.append(("Recorded actions the candidate makes impossible", ["case", "action", "why"], impossible))
    return out


def print_tables(answer: dict[str, Any], console: Console) -> None:
    for title, header, rows in tables(answer):
        table = Table(title=title, title_justify="left")
        for name in header:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)


def _bars(title: str, labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]]) -> str:
    """Grouped bars, one group per label, one colour per series, as inline SVG."""
    width, height, left, bottom = 760, 240, 40, 40
    top = max([v for _, _, values in series for v in values] + [1])
    group = (width - left - 10) / max(1, len(labels))
    bar = group / (len(series) + 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    parts.append(f"<title>{html.escape(title)}</title>")
    for i, label in enumerate(labels):
        x0 = left + i * group
        for j, (_, colour, values) in enumerate(series):
            h = (height - bottom - 10) * values[i] / top
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{html.escape(label)}: {values[i]:g}</title></rect>'
            )
        parts.append(
            f'<text x="{x0 + group / 2:.1f}" y="{height - bottom + 14}" font-size="10" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    parts.append(f'<text x="{left}" y="12" font-size="11">max {top:g}</text>')
    for j, (name, colour, _) in enumerate(series):
        parts.append(
            f'<rect x="{left + j * 170}" y="{height - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + j * 170 + 14}" y="{height - 5}" font-size="11">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _series(answer: dict[str, Any], pick: Any) -> list[tuple[str, str, list[float]]]:
    out = [("recorded policies", "#4e79a7", pick(answer["baseline"]))]
    if answer["candidate"]:
        out.append(("candidate", "#e15759", pick(answer["candidate"])))
    return out


def page(answer: dict[str, Any]) -> str:
    """One HTML page, readable offline: the tables, and the breaches per hour and QA points per station plotted."""
    hours = [str(h) for h in range(24)]
    stations = sorted(set(answer["baseline"]["qa_points"]) | set((answer["candidate"] or {}).get("qa_points", {})))
    charts = [
        _bars(
            "Breaches per hour of day (UTC)",
            hours,
            _series(answer, lambda s: [float(s["breaches_by_hour"].get(h, 0)) for h in hours]),
        ),
        _bars(
            "QA points per station",
            stations,
            _series(answer, lambda s: [float(s["qa_points"].get(name, 0)) for name in stations]),
        ),
    ]
    verdict = (
        "faithful: the replay under the recorded policies agrees with the recording"
        if answer["faithful"]
        else (f"NOT faithful: {len(answer['differences'])} cases differ from the recording")
    )
    if answer["beyond_the_end"]:
        verdict += (
            f"; {len(answer['beyond_the_end'])} outcome(s) decided within the live timer's lag of the recording's"
            " end, not recorded yet (not differences)"
        )
    body = [f"<h1>caseflow what-if</h1><p>{html.escape(verdict)}; {answer['records']} records.</p>"]
    body += [
        f"<h2>{title}</h2>{chart}"
        for title, chart in zip(("Breaches per hour of day (UTC)", "QA points per station"), charts, strict=True)
    ]
    for title, header, rows in tables(answer):
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        lines = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        body.append(f"<h2>{html.escape(title)}</h2><table><tr>{cells}</tr>{lines}</table>")
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:left}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>caseflow what-if</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )
