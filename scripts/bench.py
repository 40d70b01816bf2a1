#!/usr/bin/env python3
"""The standard benchmark's two helpers (scripts/bench.sh runs them; standard library only).

`bench.py sample URL PID OUT STOP` writes one line per second to OUT until the file STOP exists: seconds since the
start, the server's resident memory (VmRSS, KiB), and from its `/metrics` the reports the normalizer received
(accepted) and those the indexer received (release sets: searchable).

`bench.py report SAMPLES RESULT INDICATORS JSON SVG` reads those samples and the load generator's `RESULT {json}`
line, writes the figures as JSON and draws them as one SVG: indicators per second over time (accepted and
searchable), the latency percentiles (ingest to searchable, exact lookups), and the resident memory over the
indicators held.
"""

import json
import math
import os
import sys
import time
import urllib.request
from xml.sax.saxutils import escape


def metric(text, name, stage):
    """The value of `name{stage="…"}` in a Prometheus text page, 0 when absent."""
    wanted = f'stage="{stage}"'
    for line in text.splitlines():
        if line.startswith(name + "{") and wanted in line:
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return 0.0
    return 0.0


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(url, pid, out, stop):
    start = time.monotonic()
    with open(out, "w") as samples:
        while not os.path.exists(stop):
            try:
                with urllib.request.urlopen(url + "/metrics", timeout=5) as answer:
                    text = answer.read().decode()
            except OSError:
                text = ""
            accepted = metric(text, "accord_stage_received_total", "normalizer")
            searchable = metric(text, "accord_stage_received_total", "indexer")
            elapsed = time.monotonic() - start
            samples.write(f"{elapsed:.2f} {rss_kib(pid)} {accepted:.0f} {searchable:.0f}\n")
            samples.flush()
            time.sleep(max(0.0, 1.0 - (time.monotonic() - start - elapsed)))


def read_samples(path):
    rows = []
    with open(path) as samples:
        for line in samples:
            parts = line.split()
            if len(parts) == 4:
                rows.append((float(parts[0]), int(parts[1]), float(parts[2]), float(parts[3])))
    return rows


def rates(rows, column, per_report):
    """Indicators per second between consecutive samples of a cumulative report count."""
    series = []
    for before, after in zip(rows, rows[1:]):
        span = after[0] - before[0]
        if span > 0:
            series.append((after[0], max(0.0, after[column] - before[column]) * per_report / span))
    return series


def figures(rows, result, per_report):
    """The JSON written: the load generator's summary, and the time series."""
    accepted = rates(rows, 2, per_report)
    searchable = rates(rows, 3, per_report)
    held = [(row[3] * per_report, row[1] / 1024) for row in rows]
    return {
        "indicators": result.get("accepted", 0) * per_report,
        "indicators_per_report": per_report,
        "accepted_per_s": result.get("accepted_per_s"),
        "indicators_per_s_accepted": (result.get("accepted_per_s") or 0) * per_report,
        "indicators_per_s_searchable": result.get("indicators_per_s_searchable"),
        "ingest_to_searchable_ms": result.get("searchable"),
        "lookup_ms": result.get("lookup"),
        "lookup_404_ms": result.get("lookup_404"),
        "rss_mib_peak": max((row[1] for row in rows), default=0) / 1024,
        "rss_mib_end": rows[-1][1] / 1024 if rows else 0,
        "errors": result.get("errors"),
        "revocation": result.get("revocation"),
        "series": {
            "seconds_indicators_per_s_accepted": accepted,
            "seconds_indicators_per_s_searchable": searchable,
            "indicators_held_rss_mib": held,
        },
    }


class Panel:
    """One chart in the SVG: a frame at (x, y) of width w and height h, axes from 0 to the data's maxima."""

    def __init__(self, x, y, w, h, title, x_label, y_label, x_max, y_max, ticks=True):
        self.x, self.y, self.w, self.h = x, y, w, h
        self.x_max, self.y_max = x_max or 1, y_max or 1
        self.parts = [
            f'<text x="{x}" y="{y - 12}" font-size="14" font-weight="bold">{escape(title)}</text>',
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="none" stroke="#888"/>',
            f'<text x="{x + w / 2}" y="{y + h + 32}" font-size="11" text-anchor="middle">{escape(x_label)}</text>',
            f'<text x="{x - 48}" y="{y + h / 2}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 {x - 48} {y + h / 2})">{escape(y_label)}</text>',
        ]
        for tick in range(5 if ticks else 0):
            value = self.y_max * tick / 4
            py = y + h - h * tick / 4
            self.parts.append(f'<text x="{x - 4}" y="{py + 4}" font-size="10" text-anchor="end">{short(value)}</text>')
            value = self.x_max * tick / 4
            px = x + w * tick / 4
            self.parts.append(f'<text x="{px}" y="{y + h + 14}" font-size="10" text-anchor="middle">{short(value)}</text>')

    def point(self, vx, vy):
        return (self.x + self.w * vx / self.x_max, self.y + self.h - self.h * min(vy, self.y_max) / self.y_max)

    def line(self, points, colour, label, row):
        if points:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (self.point(vx, vy) for vx, vy in points))
            self.parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        self.legend(colour, label, row)

    def legend(self, colour, label, row):
        ly = self.y + 14 + 16 * row
        self.parts.append(f'<rect x="{self.x + 10}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>')
        self.parts.append(f'<text x="{self.x + 26}" y="{ly}" font-size="11">{escape(label)}</text>')


def short(value):
    """A number as an axis shows it: 1.2M, 35k, 12, 0.5."""
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}"


def latency_panel(data):
    """Bars of p50, p99 and max, in milliseconds on a log scale from 0.1 ms, for ingest→searchable and lookups."""
    bars = []
    for colour, summary in (("#1f77b4", data["ingest_to_searchable_ms"]), ("#2ca02c", data["lookup_ms"])):
        for key in ("p50_ms", "p99_ms", "max_ms"):
            bars.append((colour, key[:-3], (summary or {}).get(key) or 0.0))
    decades = math.log10(max(max(value for _, _, value in bars), 1.0)) + 2
    panel = Panel(560, 60, 380, 220, "Latency (ms, log scale)", "", "milliseconds", 1, 1, ticks=False)
    for index, (colour, label, value) in enumerate(bars):
        height = 220 * max(0.0, math.log10(value) + 1) / decades if value > 0 else 0
        bx, top = 570 + index * 62, 60 + 220 - height
        panel.parts += [
            f'<rect x="{bx}" y="{top:.1f}" width="40" height="{height:.1f}" fill="{colour}"/>',
            f'<text x="{bx + 20}" y="{top - 3:.1f}" font-size="10" text-anchor="middle">{value:.3g}</text>',
            f'<text x="{bx + 20}" y="294" font-size="10" text-anchor="middle">{label}</text>',
        ]
    panel.legend("#1f77b4", "ingest → searchable", 0)
    panel.legend("#2ca02c", "exact lookup (client)", 1)
    return panel


def chart(data):
    """The SVG of `figures(...)`."""
    series = data["series"]
    accepted = series["seconds_indicators_per_s_accepted"]
    searchable = series["seconds_indicators_per_s_searchable"]
    seconds = max((s for s, _ in accepted + searchable), default=1)
    rate = max((r for _, r in accepted + searchable), default=1)
    throughput = Panel(70, 60, 380, 220, "Throughput", "seconds", "indicators/s", seconds, rate * 1.1)
    throughput.line(accepted, "#1f77b4", "accepted (202)", 0)
    throughput.line(searchable, "#d62728", "searchable (indexed)", 1)

    latency = latency_panel(data)

    held = series["indicators_held_rss_mib"]
    indicators = max((i for i, _ in held), default=1)
    mib = max((m for _, m in held), default=1)
    memory = Panel(70, 380, 870, 200, "Resident memory over indicators held", "indicators searchable", "RSS (MiB)",
                   indicators, mib * 1.1)
    memory.line(held, "#9467bd", "RSS", 0)

    title = (f"accord up: {data['indicators']:,} indicators, "
             f"{short(data['indicators_per_s_searchable'] or 0)} indicators/s searchable, "
             f"peak RSS {data['rss_mib_peak']:.0f} MiB")
    parts = throughput.parts + latency.parts + memory.parts
    return "\n".join(
        [
            '<svg xmlns="http://www.w3.org/2000/svg" width="980" height="640" font-family="sans-serif">',
            '<rect width="100%" height="100%" fill="white"/>',
            f'<text x="490" y="20" font-size="14" text-anchor="middle">{escape(title)}</text>',
            *parts,
            "</svg>",
        ]
    )


def report(samples, result_path, per_report, json_out, svg_out):
    rows = read_samples(samples)
    result = {}
    with open(result_path) as output:
        for line in output:
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
    if not result:
        sys.exit(f"bench: no RESULT line in {result_path}")
    data = figures(rows, result, per_report)
    with open(json_out, "w") as out:
        json.dump(data, out, indent=1)
    with open(svg_out, "w") as out:
        out.write(chart(data))


def main(argv):
    if len(argv) == 5 and argv[0] == "sample":
        sample(argv[1], int(argv[2]), argv[3], argv[4])
    elif len(argv) == 6 and argv[0] == "report":
        report(argv[1], argv[2], int(argv[3]), argv[4], argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
