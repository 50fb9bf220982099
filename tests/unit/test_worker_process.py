"""The background worker process's two ends (`workers/process.py`): the API process's
`WorkerProcess` hands the child its start-up line and one byte per wake-up, and closes the
pipe to stop it; the child's `serve_loops` wakes the loops per byte and stops them at the
end of the pipe. Driven through real pipes, with nothing timed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from nimplane.workers.process import WorkerProcess, read_hello, serve_loops


class Loops:
    """Records what `serve_loops` does to the loops; each wake-up is queued."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.wakes: asyncio.Queue[None] = asyncio.Queue()

    def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    def wake(self) -> None:
        self.events.append("wake")
        self.wakes.put_nowait(None)


def test_each_byte_wakes_the_loops_and_the_end_of_the_pipe_stops_them() -> None:
    async def main() -> list[str]:
        read_end, write_end = os.pipe()
        os.write(write_end, b'{"config": null}\n')
        assert read_hello(read_end) == b'{"config": null}'
        loops = Loops()
        task = asyncio.create_task(serve_loops(loops, read_end))
        await loops.wakes.get()  # the pass at start
        os.write(write_end, b"w")
        await loops.wakes.get()
        os.close(write_end)
        await task
        os.close(read_end)
        return loops.events

    assert asyncio.run(main()) == ["start", "wake", "wake", "stop"]


CHILD = """
import sys
data = sys.stdin.buffer.read()
open(sys.argv[1], "wb").write(data)
"""


def test_the_child_gets_its_start_up_line_and_the_wake_ups_and_stops_at_the_end(
    tmp_path: Path,
) -> None:
    out = tmp_path / "received"

    async def main() -> None:
        process = WorkerProcess([sys.executable, "-c", CHILD, str(out)], b'{"a": 1}')
        process.start()
        assert process.pid is not None
        for _ in range(3):
            process.wake()
        await process.stop()
        assert process.pid is None
        process.wake()  # after stop: nothing to wake, and no error
        assert process.starts == 1

    asyncio.run(main())
    assert out.read_bytes() == b'{"a": 1}\nwww'
