"""The moving parts of one `send` run that are not SMTP: the work queue with its retry times,
the circuit breaker, the rate limiter, the live view of the unsubscribes, and the interrupt flag.

A message the server asked to try later (4xx, a cut before the end of DATA) does not hold its
connection while it waits: it goes back in the queue with a due time, and the worker goes on
with the next reader. Retries that are due come before new readers.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Container
from dataclasses import dataclass, field, replace

from digest.models import Subscriber


@dataclass(frozen=True, order=True)
class Job:
    due: float
    order: int
    subscriber: Subscriber = field(compare=False)
    attempt: int = field(default=0, compare=False)  # how many times the server said "later"
    reply: str = field(default="", compare=False)  # what it said last


class Jobs:
    """Readers waiting to be sent: new ones (bounded, so the list is streamed) and retries."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.cond = threading.Condition()
        self.fresh: deque[Job] = deque()
        self.later: list[Job] = []
        self.order = itertools.count()
        self.busy = 0  # jobs taken and not done: they may come back as retries
        self.closed = False  # no more new readers
        self.stopped = False  # take nothing more; what is left is reported as deferred

    def put(self, subscriber: Subscriber, poll: Callable[[], None] = lambda: None) -> bool:
        """Queue a reader, waiting for room; False when the run stopped. `poll` runs while waiting."""
        with self.cond:
            while len(self.fresh) >= self.capacity and not self.stopped:
                self.cond.wait(0.2)
                poll()
            if self.stopped:
                return False
            self.fresh.append(Job(0.0, next(self.order), subscriber))
            self.cond.notify()
            return True

    def again(self, job: Job, delay: float, reply: str) -> None:
        with self.cond:
            due = time.monotonic() + delay
            heapq.heappush(self.later, replace(job, due=due, attempt=job.attempt + 1, reply=reply))
            self.cond.notify_all()

    def take(self) -> Job | None:
        """The next job: a retry that is due, else a new reader; None when there is no more."""
        with self.cond:
            while not self.stopped:
                now = time.monotonic()
                if self.later and self.later[0].due <= now:
                    job = heapq.heappop(self.later)
                elif self.fresh:
                    job = self.fresh.popleft()
                    self.cond.notify_all()  # room for the reader of the list
                elif self.closed and not self.later and not self.busy:
                    return None
                else:
                    self.cond.wait(self.later[0].due - now if self.later else None)
                    continue
                self.busy += 1
                return job
            return None

    def done(self) -> None:
        with self.cond:
            self.busy -= 1
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()

    def leftovers(self) -> list[Job]:
        """What was never taken (after a stop): to be reported, not lost."""
        with self.cond:
            left = [*self.fresh, *self.later]
            self.fresh.clear()
            self.later.clear()
            return left


class Circuit:
    """Stops a run once the server failed `limit` times in a row as a whole (timeouts, cuts,
    421): a hung or dying server costs seconds, not the sum of every message's back-off."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.faults = 0
        self.lock = threading.Lock()

    def fault(self) -> bool:
        """Count one; True when the circuit opens."""
        with self.lock:
            self.faults += 1
            return self.faults >= self.limit

    def ok(self) -> None:
        with self.lock:
            self.faults = 0


class Limiter:
    """At most `rate` messages a second over all connections (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(self.next, now)
            self.next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


Reader = Callable[[], Container[str]]


class Suppressions:
    """Who must not get the issue, read again while the run goes on: an unsubscribe recorded
    during a send is honoured for every message not yet handed to the server.

    `static` is what the run started with; `read` (the store's current unsubscribes for the
    list) is called again once `interval` seconds have passed, and at the start of each batch
    (each new connection). Addresses are compared lower-cased."""

    def __init__(
        self, static: Container[str] = (), read: Reader | None = None, interval: float = 2.0
    ) -> None:
        self.static = static
        self.read = read
        self.interval = interval
        self.current: Container[str] = read() if read else ()
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def __contains__(self, email: object) -> bool:
        if not isinstance(email, str):
            return False
        address = email.lower()
        if address in self.static:
            return True
        if self.read is not None and time.monotonic() - self.stamp >= self.interval:
            self.refresh()
        return address in self.current

    def refresh(self, *, unless_younger_than: float = 0.0) -> None:
        if self.read is None or not self.lock.acquire(blocking=False):
            return  # another thread is reading them right now
        try:
            if time.monotonic() - self.stamp >= unless_younger_than:
                self.current = self.read()
                self.stamp = time.monotonic()
        finally:
            self.lock.release()


class Interrupt:
    """Set by a signal handler (Ctrl-C, SIGTERM): a plain flag, since a handler must not take a
    lock the interrupted thread may hold. The run polls it, stops taking new messages, lets the
    ones in flight finish, and reports."""

    def __init__(self) -> None:
        self.requested = False
