"""The code that runs in the zygote and the sandboxed worker: sandbox, zygote, worker, wire.

Imports nothing from the rest of the grader, so nothing trusted is ever loaded where student
code runs.
"""
