"""Canonical help-desk vocabulary: warehouse models and the KPI metric registry.

`kpi_core` imports nothing from `connectors`, `sync` or the CLI: dependencies point one way,
`cli -> sync -> connectors -> kpi_core`.
"""
