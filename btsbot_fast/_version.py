"""The package's version (one place; ``btsbot_fast.__version__``)."""

__version__ = "0.1.0"
