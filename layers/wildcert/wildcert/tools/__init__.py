"""One-off commands an operator runs from a checkout (`python -m wildcert.tools.<tool>`)."""
