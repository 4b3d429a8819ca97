"""Files shared across process boundaries: written whole, read with suspicion.

``atomic`` writes so a reader sees the old file or the new one, never half;
``child_files`` opens what a child left behind without hanging or flooding the
reader; ``child_output`` reads metrics and error lines from what a child printed.
"""
