"""The KPI catalog: importing this package registers every metric in `kpi_core.REGISTRY`.

One module per family of KPI_CATALOG.md section 3, imported in catalog order (which is the
order `compute(conn, None, query)` runs and lists them): ticket speed, live contacts, volume and
workload (contacts, then tickets), ticket quality, surveys and reviews, customers and business,
social media.
"""

# isort: skip_file
from deskpulse.kpi_core.metrics import tickets_speed
from deskpulse.kpi_core.metrics import contacts
from deskpulse.kpi_core.metrics import volume
from deskpulse.kpi_core.metrics import tickets_volume
from deskpulse.kpi_core.metrics import tickets_quality
from deskpulse.kpi_core.metrics import surveys
from deskpulse.kpi_core.metrics import customers
from deskpulse.kpi_core.metrics import social

__all__ = [
    "contacts",
    "customers",
    "social",
    "surveys",
    "tickets_quality",
    "tickets_speed",
    "tickets_volume",
    "volume",
]
