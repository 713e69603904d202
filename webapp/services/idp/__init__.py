"""Identity providers (issue 14): setup (providers.py), the shared JWKS cache (jwks.py), and the
token path's choice of keys (tokens.py)."""
