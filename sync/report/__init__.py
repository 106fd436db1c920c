"""The KPI report: `build_report` gathers the numbers, `render_html` writes one self-contained
page with charts, `summary_markdown` gives the same headline as text for help-desk posts."""

from __future__ import annotations

from deskpulse.sync.report.content import Report, build_report
from deskpulse.sync.report.page import render_html, summary_markdown

__all__ = ["Report", "build_report", "render_html", "summary_markdown"]
