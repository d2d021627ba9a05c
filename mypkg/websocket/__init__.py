"""WebSockets over websockets' sans-I/O protocol; reached only through ``server.py``."""
