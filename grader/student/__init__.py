"""The student's own runner: public tests under plain pytest (or `grader check`) on the student's
laptop, their module imported in-process. Never used by grading: hidden tests run only in the
trusted engine against a sandboxed worker."""
