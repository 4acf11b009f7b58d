"""A partition's pull ends when it is stopped, though nats-py swallows the cancel.

nats-py's `Subscription.next_msg` turns a cancellation into `ConnectionClosedError` when
the connection is closing (and Python 3.11's `wait_for` can lose one racing a result):
the pull took that for a node gone and tried again, for good, and a worker told to stop
was killed after its deadline. The subscription here is a stand-in object with the one
method the pull calls, behaving as nats-py's does when its cancellation is lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors

from coldchain_ingest.jetstream import PartitionSource


class _SwallowingSubscription:
    """Loses the first cancellation, as a nats error; takes the next ones."""

    def __init__(self) -> None:
        self.swallowed = False

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        try:
            await asyncio.sleep(timeout)
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed = True
            raise nats.errors.TimeoutError from None
        raise nats.errors.TimeoutError

    async def unsubscribe(self) -> None:
        pass


class _Connection:
    def jetstream(self) -> None:
        return None


def test_a_stopped_pull_ends_though_its_cancel_was_swallowed() -> None:
    async def run() -> bool:
        source = PartitionSource(None, _Connection(), 0, 6, None, 10)  # type: ignore[arg-type]
        source._pulling = asyncio.create_task(source._pull(_SwallowingSubscription()))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        source.stop()
        done, _ = await asyncio.wait({source._pulling}, timeout=5)
        source._pulling.cancel()
        return bool(done)

    assert asyncio.run(run()), "the pull went on after stop()"
