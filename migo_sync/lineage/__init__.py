"""Lineage across systems: remote field → pull → warehouse column → push query → remote field."""
