"""LTI 1.3 Advantage: ``grader serve`` as a tool that an LMS launches, signs in, and sends grades
back to (docs/lti.md)."""
