"""Worker threads for sync attempts with a time limit: `Job` and `Workers`.

A router starts no thread unless `timeout=`, `attempt_timeout=`, a stream limit
or `hedge_after=` is set. Then each attempt (each try, each stream item) runs in
a worker thread while the caller waits for it at most until the limit; an
attempt past its limit is *abandoned*: it keeps running, its result is
discarded, its exception raised nowhere, and whatever it holds is given back
when it really ends. Idle workers are reused and end after a while.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Job", "Lane", "Workers"]

#: Seconds an idle worker thread waits for the next job before it ends.
IDLE_SECONDS = 30.0


class Job:
    """One callable run in a worker thread, in a copy of the caller's context."""

    __slots__ = (
        "_lock",
        "_on_end",
        "abandoned",
        "context",
        "done",
        "error",
        "fn",
        "signal",
        "value",
    )

    def __init__(self, fn: Callable[[], Any], signal: threading.Event | None = None) -> None:
        self.fn = fn
        #: Set when the job ends, besides `done` (one event shared by a call's jobs).
        self.signal = signal
        self.context = contextvars.copy_context()
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.abandoned = False
        self._on_end: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        """Run the callable (in a worker); call the abandonment callback at the end."""
        try:
            self.value = self.context.run(self.fn)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, or dropped
            self.error = exc
        with self._lock:
            self.done.set()
            on_end = self._on_end if self.abandoned else None
        if self.signal is not None:
            self.signal.set()
        if on_end is not None:
            self.error = self.value = None  # an abandoned call's result goes nowhere
            on_end()

    def wait(self, timeout: float | None) -> bool:
        """Wait (real time) until the job ends or `timeout` passes; True when it ended."""
        return self.done.wait(timeout)

    def abandon(self, on_end: Callable[[], None]) -> bool:
        """Stop watching the job: `on_end` runs when it ends. False if it already ended."""
        with self._lock:
            if self.done.is_set():
                return False
            self.abandoned = True
            self._on_end = on_end
            return True

    def result(self) -> Any:
        """The job's return value, or raise its exception (after it ended)."""
        error = self.error
        if error is not None:
            self.error = None  # the caller re-raises it: keep no second reference
            raise error
        return self.value


class Workers:
    """A router's pool of worker threads: reused while busy, gone once idle."""

    __slots__ = ("_idle", "_jobs", "_lock", "started")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._idle = 0
        #: Worker threads started so far (for tests and the docs' claims).
        self.started = 0

    def submit(self, job: Job) -> None:
        """Run `job` in an idle worker, or in a new daemon thread."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._jobs.put(job)
                return
            self.started += 1
        thread = threading.Thread(target=self._work, args=(job,), daemon=True)
        thread.name = f"fallback_router-worker-{self.started}"
        thread.start()

    def _work(self, job: Job) -> None:
        while True:
            job.run()
            del job
            with self._lock:
                self._idle += 1
            try:
                job = self._jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    try:
                        job = self._jobs.get_nowait()  # handed over as we timed out
                    except queue.Empty:
                        self._idle -= 1
                        return


class Lane:
    """One worker thread that runs every step of one stream, in order.

    A sync stream with a time limit reads its generator in a worker thread; all of
    its steps (each item, and its close) run on the same thread, so a generator
    holding thread-bound resources (a sqlite3 connection, a thread-local session)
    works. The thread comes from the router's pool and goes back to it at `stop()`
    (queued after the steps already submitted: a step that hangs keeps it).
    """

    __slots__ = ("_started", "_tasks", "_workers")

    def __init__(self, workers: Any) -> None:
        self._workers: Workers = workers
        self._tasks: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._started = False

    def submit(self, job: Job) -> None:
        """Run `job` on this lane's thread, after the jobs submitted before it."""
        if not self._started:
            self._started = True
            self._workers.submit(Job(self._serve))
        self._tasks.put(job)

    def stop(self) -> None:
        """Give the thread back once the jobs submitted so far have run."""
        if self._started:
            self._tasks.put(None)

    def _serve(self) -> None:
        tasks = self._tasks
        while True:
            job = tasks.get()
            if job is None:
                return
            job.run()
            del job
