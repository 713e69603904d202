"""The identity core: every rule about tokens, keys and user data, once.

Knows no request, response or database session: the services and the web faces call it.
"""
