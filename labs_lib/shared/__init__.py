"""Plumbing that both packages need, kept here so imports go one way (labs_tools -> labs_lib, never back).

- `params`: the parameters-cell contract (how a notebook declares its parameters, and how values are checked);
- `files`: atomic file writing and JSON records;
- `latex`: the LaTeX form of a table, which a notebook's kernel attaches to each DataFrame for the PDF reports.

A student reading the lessons never needs to open these.
"""
