"""In-memory state behind the protocols.

Cooldowns, concurrency limits, rate limits, the retry budget, round-robin counters.
"""
