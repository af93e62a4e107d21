"""A scriptable OpenAI-compatible chat server on 127.0.0.1, for fault tests and benchmarks.

``LoopbackServer(responder)`` answers ``GET /count`` with the number of chat requests so far,
and any ``POST`` (``/v1/chat/completions``) by calling
``responder(request_json, index)`` (``index`` counts requests from 0) and acting on the
:class:`Reply` it returns: wait ``delay`` seconds, then close the connection without an answer
(``close=True``), or send ``status`` with a chat-completion body around ``content`` (or the raw
``body``) and any extra ``headers`` (``{"Retry-After": "1"}``). Every request body is kept in ``server.requests``; ``max_in_flight`` is the most requests
open at once. Standard library only (asyncio streams, HTTP/1.1 keep-alive).

Example:
    >>> with LoopbackServer(lambda req, i: Reply(content='{"criteria_met": true}')) as server:
    ...     server.base_url.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoopbackServer", "Reply", "chat_completion", "grading_responder", "prompt_of"]


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    delay: float = 0.0
    close: bool = False
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def chat_completion(content: str, model: str = "loopback") -> dict:
    """A minimal OpenAI chat-completion response body."""
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def prompt_of(request: dict) -> str:
    """The text of the last message of a chat request."""
    return str(request["messages"][-1]["content"])


def grading_responder(latency: float = 0.0) -> Callable[[dict, int], Reply]:
    """A well-behaved fake grader with a fixed latency.

    Per-criterion prompts get ``{"explanation", "criteria_met"}``, batched prompts one verdict
    per ``[cN]`` id, rating prompts ``{"rating"}``; decisions are a hash of the prompt.
    """

    def respond(request: dict, index: int) -> Reply:
        prompt = prompt_of(request)
        digest = hashlib.sha256(prompt.encode()).digest()
        ids = re.findall(r"^\[(c\d+)\] ", prompt, flags=re.MULTILINE)
        if ids:
            verdicts = [{"id": i, "explanation": "fake", "criteria_met": bool(digest[k % 32] & 1)} for k, i in enumerate(ids)]
            return Reply(json.dumps({"verdicts": verdicts}), delay=latency)
        if '"rating"' in prompt:
            return Reply(json.dumps({"explanation": "fake", "rating": 1 + digest[0] % 10}), delay=latency)
        return Reply(json.dumps({"explanation": "fake", "criteria_met": bool(digest[0] & 1)}), delay=latency)

    return respond


class LoopbackServer:
    """Asyncio HTTP/1.1 server on 127.0.0.1 (an ephemeral port) running in a background thread.

    Use as a context manager. The responder runs on the server's event loop, so it must be
    quick; ``Reply.delay`` waits without blocking other requests.
    """

    def __init__(self, responder: Callable[[dict, int], Reply], port: int = 0) -> None:
        self.responder = responder
        self.requests: list[dict] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: set[asyncio.Task] = set()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                raw = await reader.readexactly(length) if length else b""
                if head.startswith(b"GET /count"):  # how many chat requests so far (not counted itself)
                    data = str(len(self.requests)).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
                    await writer.drain()
                    continue
                try:
                    request = json.loads(raw)
                except ValueError:
                    request = {"raw": raw.decode(errors="replace")}
                index = len(self.requests)
                self.requests.append(request)
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
                try:
                    reply = self.responder(request, index)
                    if reply.delay:
                        await asyncio.sleep(reply.delay)
                finally:
                    self._in_flight -= 1
                if reply.close:
                    writer.transport.abort()
                    return
                body = reply.body if reply.body is not None else chat_completion(reply.content or "")
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                extra = "".join(f"{name}: {value}\r\n" for name, value in reply.headers.items())
                writer.write(
                    f"HTTP/1.1 {reply.status} X\r\nContent-Type: application/json\r\n{extra}"
                    f"Content-Length: {len(data)}\r\n\r\n".encode() + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    def start(self) -> LoopbackServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self._port, backlog=1024), self._loop
        )
        self._server = future.result(timeout=10)
        return self

    def stop(self) -> None:
        async def _close() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(_close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()  # its self-pipe sockets: an unclosed loop is a ResourceWarning

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m heartgrpo.io.loopback --latency 0.2``: serve the fake grader until killed.

    Prints the base URL on the first line of stdout.
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = LoopbackServer(grading_responder(args.latency), port=args.port).start()
    print(server.base_url, flush=True)
    try:
        server._thread.join()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
