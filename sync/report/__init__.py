"""The KPI report: `build_report` gathers the numbers, `render_html` writes one self-contained
page with charts. The digest posted in the help desk (sync.digest) words each KPI the same way
(sync.render: `kpi_line`, `change_text`, `worst_slices`)."""

from __future__ import annotations

from deskpulse.sync.report.content import Report, build_report
from deskpulse.sync.report.page import render_html

__all__ = ["Report", "build_report", "render_html"]
