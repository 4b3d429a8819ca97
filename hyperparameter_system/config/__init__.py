"""Configuration: the YACS training schema and the experiment file (no torch here)."""
