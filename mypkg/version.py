"""The release number, in a leaf module: the CLI and the banner read it without the facade."""

__version__ = "0.1.0"
