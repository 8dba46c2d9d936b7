"""Real local HTTP servers that speak the protocols mlgate's network code talks to."""
