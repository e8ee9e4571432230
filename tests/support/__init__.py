"""Shared helpers for the test suite (Hypothesis strategies and the like)."""
