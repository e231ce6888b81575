"""Measuring what the planner relies on: latency per block shape (and, in cli/profile, precision)."""
