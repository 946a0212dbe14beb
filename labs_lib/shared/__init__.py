"""Plumbing both packages need, here so imports go one way (labs_tools -> labs_lib, never back).

- `params`: the parameters-cell contract (how notebooks declare parameters, how values are checked);
- `files`: atomic file writing and JSON records;
- `latex`: tables as LaTeX, the form a notebook's kernel attaches to each DataFrame for PDF reports.

A student reading the lessons never needs to open these.
"""
