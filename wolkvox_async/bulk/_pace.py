"""Who runs first on the event loop during a load: the senders, then the reader.

A load's reader (checking and encoding the next chunks) and its senders share one thread.
Left alone, the reader's 100-row slices interleave with a sender's steps between "slot
granted" and "bytes on the socket", and between "answer" and "next slot asked": each
slice there is time the slot stands idle, and Wolkvox's 2 slots per token are the bound
(benchmarks/upload_throughput.py --trace measures both gaps). So a sender *rushes* from
its answer until it asks for its next slot, and from the slot granted until the body is
with the socket; never while it waits (for a chunk, for admission, a rest after a
refusal). The reader starts no slice while any sender rushes — any sender of the event
loop on the same backend: loads on many tokens in one process share the loop, and one
load's reader delayed the others' requests just the same (benchmarks/many_tokens.py). The
gate is kept with the backend's per-loop schedulers (:meth:`Schedulers.per_loop`), not in
this module: it lives as long as the backend and its loop.
"""

from __future__ import annotations

import asyncio

from ..scheduler import Backend, schedulers_of

__all__ = ["Gate", "Pace", "gate"]


class Gate:
    """The readers' side: :meth:`pass_` returns once no sender rushes. One per backend and
    event loop (:func:`gate`)."""

    def __init__(self) -> None:
        self.rushing = 0
        self.calm = asyncio.Event()
        self.calm.set()

    async def pass_(self) -> None:
        await asyncio.sleep(0)  # answers of chunks in flight come through in any case
        while not self.calm.is_set():
            await self.calm.wait()

    def pace(self) -> Pace:
        return Pace(self)


def gate(backend: Backend) -> Gate:
    """The running event loop's gate of ``backend``, shared by every load in the loop on
    that backend (every client without ``backend=`` shares the default one)."""
    return schedulers_of(backend).per_loop(Gate)


class Pace:
    """One sender's side: :meth:`rush` until :meth:`ease`."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.rushing = False

    def rush(self) -> None:
        if not self.rushing:
            self.rushing = True
            self.gate.rushing += 1
            self.gate.calm.clear()

    def ease(self) -> None:
        if self.rushing:
            self.rushing = False
            self.gate.rushing -= 1
            if not self.gate.rushing:
                self.gate.calm.set()
