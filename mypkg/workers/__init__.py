"""Gunicorn worker classes: ``gunicorn -k mypkg.workers.AsgiWorker`` (or ``AsgiH11Worker``)."""

from __future__ import annotations

from mypkg.workers.worker import AsgiH11Worker, AsgiWorker

__all__ = ["AsgiH11Worker", "AsgiWorker"]
