"""Vendor connectors, the shared HTTP helper, and the registry that names them."""
