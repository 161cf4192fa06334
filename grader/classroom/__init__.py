"""A whole class: roster, discovery, resumable batch grading, gradebook, overview, Dask."""
