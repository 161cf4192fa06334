"""A grader for deep-learning courses: hidden tests in a trusted process, student code in a sandbox."""

__version__ = "0.1.0"
