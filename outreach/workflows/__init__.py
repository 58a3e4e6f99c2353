"""Deterministic Temporal workflows: OutreachCase, AnnualReview, their contract and state."""
