"""Loopback fake servers that speak the providers' real wire protocols (see server.py)."""
