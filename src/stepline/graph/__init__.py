"""Drawings of state machines: a layered layout (layout.py) and its SVG (svg.py), shared by the console and the CLI."""
