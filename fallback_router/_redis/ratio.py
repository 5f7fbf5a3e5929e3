"""The failure-ratio window of `RedisCooldown`: its Lua scripts and the successes to send.

Key (next to the ones in `scripts`)::

    fallback_router:{<namespace>}:window:<provider>   hash: f<bucket> failures,
        n<bucket> outcomes, w bucket width ms; PX = 11 buckets

Buckets are numbered from the server's clock (`TIME`), so every process and host
shares one window whatever their own clocks. A failure is counted and judged in
the same atomic step as `RECORD_FAILURE` (the script is `RECORD_FAILURE` wrapped
in a function, called with a threshold of 1 when the ratio trips); successes are
batched per process and sent with the next failure of that provider or the next
read of the mirror (at most `refresh` seconds later), so a success costs no round
trip. Outcomes while a cooldown runs are not counted; a trip empties the window.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from fallback_router._policy import RETRY_AFTER_CAP, CooldownPolicy
from fallback_router._state.ratio import BUCKETS, RatioRule

from . import scripts as lua

__all__ = ["FAILURE_RATIO", "FLUSH_SUCCESSES", "WINDOW_ADD", "Pending", "failure_call"]

# A function for the scripts below: count `successes` and `failures` (at least one
# outcome) now in the window hash `key` (buckets of `width` ms; older ones dropped)
# -> {failures, outcomes} over the window.
WINDOW_ADD = """
local function window_add(key, width, successes, failures)
  local t = redis.call('TIME')
  local now = math.floor((tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) / width)
  local fails, total = failures, successes + failures
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    local kind = string.sub(fields[i], 1, 1)
    if kind ~= 'w' then
      if tonumber(string.sub(fields[i], 2)) <= now - BUCKETS then
        redis.call('HDEL', key, fields[i])
      elseif kind == 'f' then
        fails = fails + tonumber(fields[i + 1])
      else
        total = total + tonumber(fields[i + 1])
      end
    end
  end
  redis.call('HINCRBY', key, 'f' .. now, failures)
  redis.call('HINCRBY', key, 'n' .. now, successes + failures)
  redis.call('HSET', key, 'w', width)
  redis.call('PEXPIRE', key, width * (BUCKETS + 1))
  return {fails, total}
end
"""

# KEYS: cooldown, failures, level, probe, hint, window
# ARGV: RECORD_FAILURE's nine, then failure ratio, minimum calls, bucket width ms, successes
# -> as RECORD_FAILURE. The successes and this failure are counted (unless a cooldown
#    runs); when the ratio trips, RECORD_FAILURE runs with a threshold of 1.
FAILURE_RATIO = """
local args = {}
for i = 1, 9 do args[i] = ARGV[i] end
if redis.call('PTTL', KEYS[1]) <= 0 then
  local counts = window_add(KEYS[6], tonumber(ARGV[12]), tonumber(ARGV[13]), 1)
  if counts[2] >= tonumber(ARGV[11]) and counts[1] / counts[2] >= tonumber(ARGV[10]) then
    args[1] = '1'
  end
end
local result = record_failure(KEYS, args)
if result[1] == 1 then redis.call('DEL', KEYS[6]) end
return result
"""

# KEYS: cooldown and window key per provider (pairs); ARGV: bucket width ms, then the
# successes per provider -> 0. Successes of a provider in cooldown are not counted.
FLUSH_SUCCESSES = """
local width = tonumber(ARGV[1])
for i = 1, #KEYS / 2 do
  if redis.call('PTTL', KEYS[2 * i - 1]) <= 0 then
    window_add(KEYS[2 * i], width, tonumber(ARGV[i + 1]), 0)
  end
end
return 0
"""

_ADD = WINDOW_ADD.replace("BUCKETS", str(BUCKETS))
#: The whole failure script: the window, then `RECORD_FAILURE` as a function.
RECORD_FAILURE_RATIO = (
    f"{_ADD}local function record_failure(KEYS, ARGV)\n{lua.RECORD_FAILURE}end\n{FAILURE_RATIO}"
)
#: The whole flush script.
RECORD_SUCCESSES = _ADD + FLUSH_SUCCESSES


def width_ms(rule: RatioRule) -> int:
    """A bucket's width in whole milliseconds (at least 1)."""
    return max(1, round(rule.width * 1000))


def failure_call(
    policy: CooldownPolicy,
    rule: RatioRule | None,
    retry_after: float | None,
    half_open: bool,
    successes: int,
) -> tuple[str, list[Any]]:
    """The script and arguments that record one failure (with the ratio's when set)."""
    racap = policy.max_duration or max(policy.duration, RETRY_AFTER_CAP)
    jitter = 1.0 + policy.jitter * random.random()  # noqa: S311 - not crypto
    args: list[Any] = [
        policy.threshold,
        int(policy.window * 1000),
        policy.duration * 1000,
        -1 if policy.max_duration is None else policy.max_duration * 1000,
        policy.multiplier,
        -1 if retry_after is None else retry_after * 1000,
        racap * 1000,
        jitter,
        1 if half_open else 0,
    ]
    if rule is None:
        return lua.RECORD_FAILURE, args
    return RECORD_FAILURE_RATIO, [*args, rule.ratio, rule.minimum, width_ms(rule), successes]


class Pending:
    """Successes counted in this process and not yet sent, per provider (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        #: Held while successes taken are on their way to the server (`flush`): a failure
        #: takes its provider's successes under it, so successes this process counted
        #: before a failure always land before that failure is judged.
        self.sending = threading.Lock()

    def add(self, name: str) -> None:
        """Count one success of `name`."""
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + 1

    def take(self, name: str) -> int:
        """`name`'s successes, now owned by the caller."""
        if name not in self._counts:
            return 0
        with self._lock:
            return self._counts.pop(name, 0)

    def empty(self) -> bool:
        """No success waits to be sent (a lock-free read)."""
        return not self._counts

    def take_all(self) -> dict[str, int]:
        """Every provider's successes, now owned by the caller."""
        if not self._counts:
            return {}
        with self._lock:
            counts, self._counts = self._counts, {}
            return counts

    def drop(self, name: str | None) -> None:
        """Forget `name`'s successes (every provider's when None)."""
        with self._lock:
            if name is None:
                self._counts.clear()
            else:
                self._counts.pop(name, None)


def flush(conn: Any, keys: Any, rule: RatioRule | None, pending: Pending) -> None:
    """Send the successes `pending` holds to their windows (one round trip; none without a rule)."""
    if rule is None or pending.empty():
        return
    with pending.sending:
        counts = pending.take_all()
        if not counts:
            return
        names = list(counts)
        flat: list[str] = []
        for name in names:
            per = keys(name)
            flat += [per[0], per[5]]
        widths = [width_ms(rule), *(counts[n] for n in names)]
        conn.script(RECORD_SUCCESSES)(keys=flat, args=widths)
