"""Route calls across interchangeable providers with fallback, round-robin and cooldowns.

Everything public is importable from here; the code lives in private modules.
Logging goes through loguru and is disabled until the application calls
``logger.enable("fallback_router")``.
"""

from loguru import logger as _logger

from ._classify import CALLER_BUGS as CALLER_BUGS
from ._classify import ErrorMatcher as ErrorMatcher
from ._classify import default_cooldown_on as default_cooldown_on
from ._classify import http_status as http_status
from ._classify import status_of as status_of
from ._cooldown import CooldownState as CooldownState
from ._cooldown import CooldownTracker as CooldownTracker
from ._cooldown import InMemoryCooldown as InMemoryCooldown
from ._decorator import BoundRoutedMethod as BoundRoutedMethod
from ._decorator import RoutedFunction as RoutedFunction
from ._errors import AllProvidersFailedError as AllProvidersFailedError
from ._errors import DeadlineExceededError as DeadlineExceededError
from ._errors import InvalidConfigError as InvalidConfigError
from ._errors import NoProvidersError as NoProvidersError
from ._errors import RoutingError as RoutingError
from ._events import AttemptFailed as AttemptFailed
from ._events import AttemptStarted as AttemptStarted
from ._events import AttemptSucceeded as AttemptSucceeded
from ._events import CallFailed as CallFailed
from ._events import CooldownEntered as CooldownEntered
from ._events import Event as Event
from ._events import EventHook as EventHook
from ._events import ProviderSkipped as ProviderSkipped
from ._events import TerminusForced as TerminusForced
from ._hints import UnparsableRetryAfterError as UnparsableRetryAfterError
from ._hints import retry_after_of as retry_after_of
from ._limits import ConcurrencyLimiter as ConcurrencyLimiter
from ._redis import RedisCooldown as RedisCooldown
from ._redis import RedisRoundRobin as RedisRoundRobin
from ._results import Attempt as Attempt
from ._results import AttemptInfo as AttemptInfo
from ._results import Result as Result
from ._results import current_attempt as current_attempt
from ._router import Router as Router
from ._router import routed as routed
from ._status import RECENT_NAMES as RECENT_NAMES
from ._status import ProviderStatus as ProviderStatus
from ._status import Status as Status
from ._strategies import InMemoryRoundRobin as InMemoryRoundRobin
from ._strategies import Plan as Plan
from ._strategies import RoundRobinCounter as RoundRobinCounter
from ._strategies import Strategy as Strategy
from ._strategies import plan_fallback as plan_fallback

__version__ = "0.2.0"

__all__ = [
    "CALLER_BUGS",
    "RECENT_NAMES",
    "AllProvidersFailedError",
    "Attempt",
    "AttemptFailed",
    "AttemptInfo",
    "AttemptStarted",
    "AttemptSucceeded",
    "BoundRoutedMethod",
    "CallFailed",
    "ConcurrencyLimiter",
    "CooldownEntered",
    "CooldownState",
    "CooldownTracker",
    "DeadlineExceededError",
    "ErrorMatcher",
    "Event",
    "EventHook",
    "InMemoryCooldown",
    "InMemoryRoundRobin",
    "InvalidConfigError",
    "NoProvidersError",
    "Plan",
    "ProviderSkipped",
    "ProviderStatus",
    "RedisCooldown",
    "RedisRoundRobin",
    "Result",
    "RoundRobinCounter",
    "Router",
    "RoutingError",
    "Status",
    "Strategy",
    "TerminusForced",
    "UnparsableRetryAfterError",
    "__version__",
    "current_attempt",
    "default_cooldown_on",
    "http_status",
    "plan_fallback",
    "retry_after_of",
    "routed",
    "status_of",
]

_logger.disable("fallback_router")
