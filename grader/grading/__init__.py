"""The trusted engine and the grading child: one submission's pytest run against a worker."""
