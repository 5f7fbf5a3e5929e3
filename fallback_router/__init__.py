"""Route calls across interchangeable providers with fallback, round-robin and cooldowns.

Everything public is importable from here (and shows as `fallback_router.X` in
reprs and tracebacks); the code lives in private modules. Logging goes through
loguru and is disabled until the application calls
`logger.enable("fallback_router")`.
"""

import contextlib as _contextlib

from loguru import logger as _logger

from ._balance import LeastBusy as LeastBusy
from ._balance import LeastLatency as LeastLatency
from ._balance import Weighted as Weighted
from ._classify import CALLER_BUGS as CALLER_BUGS
from ._classify import ErrorMatcher as ErrorMatcher
from ._classify import default_cooldown_on as default_cooldown_on
from ._classify import http_status as http_status
from ._classify import http_status_of as http_status_of
from ._classify import status_of as status_of  # deprecated, not in __all__; goes in 0.4.0
from ._decorator import AsyncRoutedFunction as AsyncRoutedFunction
from ._decorator import AsyncRoutedStream as AsyncRoutedStream
from ._decorator import BoundRoutedMethod as BoundRoutedMethod
from ._decorator import RoutedFunction as RoutedFunction
from ._errors import AllProvidersBenchedError as AllProvidersBenchedError
from ._errors import AllProvidersFailedError as AllProvidersFailedError
from ._errors import AttemptTimeoutError as AttemptTimeoutError
from ._errors import DeadlineExceededError as DeadlineExceededError
from ._errors import InvalidConfigError as InvalidConfigError
from ._errors import NoProvidersError as NoProvidersError
from ._errors import RejectedResponseError as RejectedResponseError
from ._errors import RoutingError as RoutingError
from ._errors import StreamInterrupted as StreamInterrupted
from ._events import AttemptAbandoned as AttemptAbandoned
from ._events import AttemptFailed as AttemptFailed
from ._events import AttemptStarted as AttemptStarted
from ._events import AttemptSucceeded as AttemptSucceeded
from ._events import CallFailed as CallFailed
from ._events import CallStarted as CallStarted
from ._events import CallSucceeded as CallSucceeded
from ._events import CooldownEntered as CooldownEntered
from ._events import Event as Event
from ._events import EventHook as EventHook
from ._events import ProviderSkipped as ProviderSkipped
from ._events import TerminusForced as TerminusForced
from ._hints import UnparsableRetryAfterError as UnparsableRetryAfterError
from ._hints import retry_after_of as retry_after_of
from ._options import RouterOptions as RouterOptions
from ._redact import redact as redact
from ._redis.cooldown import RedisCooldown as RedisCooldown
from ._redis.ratelimit import RedisRateLimiter as RedisRateLimiter
from ._redis.round_robin import RedisRoundRobin as RedisRoundRobin
from ._results import Attempt as Attempt
from ._results import AttemptInfo as AttemptInfo
from ._results import Result as Result
from ._results import current_attempt as current_attempt
from ._router import Router as Router
from ._router import routed as routed
from ._routing import routing as routing
from ._state.budget import RetryBudget as RetryBudget
from ._state.cooldown import InMemoryCooldown as InMemoryCooldown
from ._state.counters import InMemoryRoundRobin as InMemoryRoundRobin
from ._state.counters import RoundRobinCounter as RoundRobinCounter
from ._state.limits import ConcurrencyLimiter as ConcurrencyLimiter
from ._state.ratelimit import InMemoryRateLimiter as InMemoryRateLimiter
from ._state.ratelimit import RateLimit as RateLimit
from ._state.ratelimit import RateLimiter as RateLimiter
from ._state.ratelimit import TokenLimit as TokenLimit
from ._strategies import Fallback as Fallback
from ._strategies import PrimaryOnly as PrimaryOnly
from ._strategies import RoundRobin as RoundRobin
from ._strategies import Strategy as Strategy
from ._surfaces.status import ProviderStatus as ProviderStatus
from ._surfaces.status import Status as Status
from ._tiers import Tiers as Tiers
from ._tracker import CooldownState as CooldownState
from ._tracker import CooldownTracker as CooldownTracker
from ._version import __version__ as __version__

__all__ = [
    "CALLER_BUGS",
    "AllProvidersBenchedError",
    "AllProvidersFailedError",
    "AsyncRoutedFunction",
    "AsyncRoutedStream",
    "Attempt",
    "AttemptAbandoned",
    "AttemptFailed",
    "AttemptInfo",
    "AttemptStarted",
    "AttemptSucceeded",
    "AttemptTimeoutError",
    "BoundRoutedMethod",
    "CallFailed",
    "CallStarted",
    "CallSucceeded",
    "ConcurrencyLimiter",
    "CooldownEntered",
    "CooldownState",
    "CooldownTracker",
    "DeadlineExceededError",
    "ErrorMatcher",
    "Event",
    "EventHook",
    "Fallback",
    "InMemoryCooldown",
    "InMemoryRateLimiter",
    "InMemoryRoundRobin",
    "InvalidConfigError",
    "LeastBusy",
    "LeastLatency",
    "NoProvidersError",
    "PrimaryOnly",
    "ProviderSkipped",
    "ProviderStatus",
    "RateLimit",
    "RateLimiter",
    "RedisCooldown",
    "RedisRateLimiter",
    "RedisRoundRobin",
    "RejectedResponseError",
    "Result",
    "RetryBudget",
    "RoundRobin",
    "RoundRobinCounter",
    "RoutedFunction",
    "Router",
    "RouterOptions",
    "RoutingError",
    "Status",
    "Strategy",
    "StreamInterrupted",
    "TerminusForced",
    "Tiers",
    "TokenLimit",
    "UnparsableRetryAfterError",
    "Weighted",
    "__version__",
    "current_attempt",
    "default_cooldown_on",
    "http_status",
    "http_status_of",
    "redact",
    "retry_after_of",
    "routed",
    "routing",
]


def _public_module() -> None:
    """Public classes and functions show as `fallback_router.X` (reprs, tracebacks, pickles)."""
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        if (
            isinstance(obj, type)
            or callable(getattr(obj, "__code__", None))
            or (hasattr(obj, "__wrapped__") and isinstance(obj, type))
        ):
            with _contextlib.suppress(
                AttributeError, TypeError
            ):  # pragma: no cover - a builtin alias
                obj.__module__ = __name__


_public_module()
_logger.disable("fallback_router")
