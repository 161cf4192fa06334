"""What grading produces: the result model, scoring, and the files written from it."""
