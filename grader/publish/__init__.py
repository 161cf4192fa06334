"""What the course hands out: the student repository (release), the Gradescope bundle
(gradescope) and the grading that bundle runs in Gradescope's container (autograder)."""
