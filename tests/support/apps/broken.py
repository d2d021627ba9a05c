"""An app module that cannot be imported: a worker that fails to boot."""

raise RuntimeError("boom while importing the app")
