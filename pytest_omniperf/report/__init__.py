"""Outputs of a run: the terminal summary (and, with the history, HTML and JSON)."""
