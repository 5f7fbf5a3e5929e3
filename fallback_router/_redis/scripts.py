"""The Redis tracker's key layout and its Lua scripts (each one atomic on the server).

Key layout (`{namespace}` is literal, a Redis Cluster hash tag, so one script may
touch every key of a namespace):

```text
fallback_router:{<namespace>}:cooldown:<provider>   "<length ms>:<tripping count>", PX = left
fallback_router:{<namespace>}:failures:<provider>   INCR, PX = escalation window
fallback_router:{<namespace>}:level:<provider>      PX = cooldown + window
fallback_router:{<namespace>}:probe:<provider>      half-open probe, PX = probe ttl
fallback_router:{<namespace>}:hint:<provider>       benched by a hint, PX = its length
```

`<namespace>` and `<provider>` are percent-encoded (UTF-8, lone surrogates
kept): every byte outside `A-Z a-z 0-9 _ . -` becomes `%XX`, so no glob
character, brace, colon or control character of a name reaches a key pattern or
another namespace's keys. Every key carries an expiry: nothing is left once
cooldowns and counts lapse. Other components keep their keys outside
`fallback_router:{…}` (see `DEFAULT_ROUND_ROBIN_KEY`).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_ROUND_ROBIN_KEY",
    "INCR",
    "READ",
    "READ_HINTS",
    "RECORD_FAILURE",
    "RECORD_SUCCESS",
    "RELEASE_PROBE",
    "TRY_PROBE",
    "decode_key_part",
    "encode_key_part",
    "prefix",
]

#: The key RedisRoundRobin uses unless told otherwise: outside every cooldown namespace.
DEFAULT_ROUND_ROBIN_KEY = "fallback_router-round_robin:{default}"

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def encode_key_part(text: str) -> str:
    """Percent-encode `text` for a key (UTF-8; lone surrogates kept, never raising)."""
    data = text.encode("utf-8", "surrogatepass")
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in data)


def decode_key_part(text: str) -> str:
    """Undo [`encode_key_part`][fallback_router._redis.scripts.encode_key_part]."""
    from urllib.parse import unquote_to_bytes  # noqa: PLC0415 - snapshot only

    return unquote_to_bytes(text).decode("utf-8", "surrogatepass")


def prefix(namespace: str) -> str:
    """The key prefix of a cooldown namespace."""
    return f"fallback_router:{{{encode_key_part(namespace)}}}:"


# KEYS: cooldown keys..., failure keys..., level keys..., probe keys... (n each)
# -> flat list: ms each provider is unavailable (cooldown, else a probe in flight),
#    then 1/0 "has any state" per provider.
READ = """
local n = #KEYS / 4
local out = {}
for i = 1, n do
  local ms = redis.call('PTTL', KEYS[i])
  if ms <= 0 then ms = redis.call('PTTL', KEYS[3 * n + i]) end
  out[i] = ms
  local dirty = ms > 0 or redis.call('EXISTS', KEYS[n + i], KEYS[2 * n + i]) > 0
  out[n + i] = dirty and 1 or 0
end
return out
"""

# KEYS: cooldown, level, probe; ARGV: probe ttl ms, half_open 0/1, the claim's token
# -> {0, 0} nothing to probe, {1, 0} probe claimed, {2, 0} another probe in flight,
#    {3, ms} in cooldown for ms
TRY_PROBE = """
local left = redis.call('PTTL', KEYS[1])
if left > 0 then return {3, left} end
if ARGV[2] == '0' or redis.call('EXISTS', KEYS[2]) == 0 then return {0, 0} end
if redis.call('SET', KEYS[3], ARGV[3] or '1', 'NX', 'PX', ARGV[1]) then return {1, 0} end
return {2, 0}
"""

# KEYS: probe; ARGV: a claim's token -> 1 released, 0 not this claim (another's, or none)
# Releases a claim whose answer never reached its caller (interrupted mid round trip).
RELEASE_PROBE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: hint keys..., cooldown keys... (n each)
# -> the ms each provider stays benched by a hint (0: none; never past its cooldown)
READ_HINTS = """
local n = #KEYS / 2
local out = {}
for i = 1, n do
  local ms = redis.call('PTTL', KEYS[i])
  if ms > 0 then ms = math.min(ms, redis.call('PTTL', KEYS[n + i])) end
  out[i] = math.max(ms, 0)
end
return out
"""

# KEYS: cooldown, failures, level, probe, hint; ARGV: clears_cooldown 0/1
# -> 1 cleared, 0 kept (a cooldown or probe set since the caller's view)
RECORD_SUCCESS = """
if ARGV[1] == '0' and (redis.call('PTTL', KEYS[1]) > 0 or redis.call('EXISTS', KEYS[4]) == 1) then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 1
"""

# KEYS: cooldown, failures, level, probe, hint
# ARGV: threshold, window_ms, base_ms, max_ms (-1: no escalation), multiplier,
#       retry_after_ms (-1: none; a hint or an explicit duration), retry_after_cap_ms,
#       jitter factor (>= 1), half_open 0/1
# -> {0: nothing started, 1: a cooldown started or extended, 2: a longer one kept;
#     the ms of cooldown the provider has now}. A cooldown from a hint also sets the
#     hint key for its length (never shortened), in the same step.
RECORD_FAILURE = """
local threshold = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local maxms = tonumber(ARGV[4])
local mult = tonumber(ARGV[5])
local ra = tonumber(ARGV[6])
local racap = tonumber(ARGV[7])
local jitter = tonumber(ARGV[8])
local cur = redis.call('PTTL', KEYS[1])
local held = math.max(cur, 0)
local probation = ARGV[9] == '1' and cur <= 0 and redis.call('EXISTS', KEYS[3]) == 1
local n = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], window)
if n < threshold and not probation then return {0, held} end
redis.call('DEL', KEYS[2], KEYS[4])
local level = 0
if maxms >= 0 then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    level = tonumber(prev)
    if cur <= 0 then level = level + 1 end
  end
end
local ms
if ra >= 0 then
  ms = math.min(ra, racap)
elseif maxms < 0 then
  ms = base
else
  ms = math.min(maxms, base * mult ^ level)
end
ms = ms * jitter
if maxms >= 0 then ms = math.min(ms, maxms) end
ms = math.floor(ms)
if ms <= 0 then return {0, held} end
if ra >= 0 and redis.call('PTTL', KEYS[5]) < ms then
  redis.call('SET', KEYS[5], '1', 'PX', ms)
end
local code = 1
if cur < ms then
  redis.call('SET', KEYS[1], ms .. ':' .. n, 'PX', ms)
else
  ms = cur
  code = 2
end
redis.call('SET', KEYS[3], level, 'PX', ms + window)
return {code, ms}
"""

# KEYS: counter; ARGV: expiry ms -> the counter's new value
INCR = """
local v = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return v
"""
