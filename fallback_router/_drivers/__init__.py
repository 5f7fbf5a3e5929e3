"""The drivers: they carry the engine's decisions out.

Sync with plain calls and threads, async on the event loop; the quiet one-attempt
happy paths; streams.
"""
