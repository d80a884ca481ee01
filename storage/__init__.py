"""Clients for the external systems: one module per system."""
