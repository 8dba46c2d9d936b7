"""Container images and wheels: read what actually ships (see interface.py)."""
