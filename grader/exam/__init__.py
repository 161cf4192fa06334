"""Exams: per-student question variants keyed by the reference implementations, graded with tolerances."""
