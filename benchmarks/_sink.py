"""A server that costs ~nothing: answers every request as a successful add_record after a
fixed latency, reading and dropping the body without parsing it. For client-side limits
(one process driving many tokens), where a simulator's own work would be the ceiling.

    python benchmarks/_sink.py --latency-ms 200     (prints "sink on http://127.0.0.1:PORT")
"""

from __future__ import annotations

import argparse
import asyncio
import signal

_BODY = b'{"code":"201","msg":"All records has been added successfully","data":[]}'
_ANSWER = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class Sink(asyncio.Protocol):
    """One keep-alive connection: headers, then Content-Length bytes dropped, then the
    answer after the latency."""

    def __init__(self, latency: float, counts: list[int]) -> None:
        self.latency = latency
        self.counts = counts
        self.head = b""
        self.left = -1  # body bytes still to drop; -1: reading headers

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        while data:
            if self.left < 0:
                self.head += data
                end = self.head.find(b"\r\n\r\n")
                if end < 0:
                    return
                headers, data = self.head[:end].lower(), self.head[end + 4 :]
                self.head = b""
                at = headers.find(b"content-length:")
                self.left = int(headers[at + 15 : headers.find(b"\r\n", at)]) if at >= 0 else 0
                self.started = self.loop.time()
            taken = min(self.left, len(data))
            self.left -= taken
            data = data[taken:]
            if self.left == 0:
                self.left = -1
                self.counts[0] += 1
                wait = max(0.0, self.started + self.latency - self.loop.time())
                self.loop.call_later(wait, self.transport.write, _ANSWER)  # type: ignore[attr-defined]


async def serve(latency: float) -> None:
    counts = [0]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Sink(latency, counts), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"sink on http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    asyncio.run(serve(parser.parse_args().latency_ms / 1000))


if __name__ == "__main__":
    main()
