# Run by each notebook's kernel before its first cell (PYTHONSTARTUP, set by bench_plain.py): train
# the plain way (plain_reference.py). One expression, so the notebook's namespace gets no new name.
__import__("plain_reference").install()
