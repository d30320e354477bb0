"""Thin Lambda entry points."""
