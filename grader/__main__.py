"""python -m grader: the command line."""

from grader.commands.main import main

main()
