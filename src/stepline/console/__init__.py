"""The web console: routes.py (pages, static files, event stream) and static/ (JS and CSS, no build step)."""
