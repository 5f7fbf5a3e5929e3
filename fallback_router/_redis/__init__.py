"""The same protocols on a Redis server.

Cooldowns, rate limits and round-robin; the clients, the Lua scripts, the process
mirror and the fail-open guard.
"""
