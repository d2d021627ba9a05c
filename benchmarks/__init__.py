"""Side-by-side benchmark harness for mypkg and its peer ASGI servers (see README.md)."""
