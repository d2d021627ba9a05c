"""ASGI applications served by every server under test, so they all run the same code."""
