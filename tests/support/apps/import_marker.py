"""An app whose import is recorded: the pid of every importing process goes to a file."""

from __future__ import annotations

import os

from tests.support.apps.workers import app

with open(os.environ["MYPKG_TEST_IMPORTS"], "a") as _file:
    _file.write(f"{os.getpid()}\n")

__all__ = ["app"]
