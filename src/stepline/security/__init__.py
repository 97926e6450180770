"""Securing a server that others can reach: SigV4 authentication of API requests (sigv4.py) for the users of a
credentials file (credentials.py), console sessions (sessions.py), the gate every request passes (gate.py),
cross-origin access for configured origins (cors.py), and the security headers of every response (headers.py)."""
