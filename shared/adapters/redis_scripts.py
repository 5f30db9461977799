"""Lua scripts more than one Redis adapter runs."""

from __future__ import annotations

# KEYS: the key. ARGV: the value we stored. Deletes the key only while it still holds our
# value, so a lock or claim that expired and was taken by someone else is never released by
# us, and a value another process stored meanwhile is never discarded. Returns 1 or 0.
DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
