"""deskpulse: customer-service KPIs from the help desk you already run.

Everything is imported under this one name (`deskpulse.connectors`, `deskpulse.kpi_core`,
`deskpulse.sync`, `deskpulse.sandbox`, `deskpulse.cli`). In the repository the subpackages keep
their top-level folders; the entries in this folder link to them, and the wheel holds them here.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("deskpulse")
except metadata.PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+unknown"
