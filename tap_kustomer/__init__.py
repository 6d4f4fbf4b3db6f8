"""tap-kustomer: a Singer tap for the Kustomer API."""

__version__ = "0.1.0"
