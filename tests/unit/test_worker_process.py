"""The background worker process's two ends (`workers/process.py`): the API process's
`WorkerProcess` hands the child its start-up line and one byte per wake-up, asks it for its
metrics, and closes the pipe to stop it; the child's `serve_loops` wakes the loops per `w`,
answers each metrics request with a frame, and stops them at the end of the pipe. Driven
through real pipes and real child processes; the only time limits are the metrics requests'
own timeouts, which the tests exercise with a child that never answers."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path

import pytest

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


def test_metrics_requests_are_answered_in_frames_and_split_requests_are_put_together() -> None:
    async def main() -> tuple[list[str], bytes]:
        read_end, write_end = os.pipe()
        answer_read, answer_write = os.pipe()
        loops = Loops()
        served = iter([b"first 1\n", b"second 2\n"])
        task = asyncio.create_task(
            serve_loops(loops, read_end, metrics=lambda: next(served), answer_fd=answer_write)
        )
        await loops.wakes.get()  # the pass at start
        os.write(write_end, b"m0000")  # a request cut in two by the pipe
        await asyncio.sleep(0)
        os.write(write_end, b"00a1wm000000ff")  # ...its rest, a wake-up, a second request
        await loops.wakes.get()
        answers = b""
        while answers.count(b"\n") < 4:
            answers += await asyncio.to_thread(os.read, answer_read, 4096)
        os.close(write_end)
        await task
        for fd in (read_end, answer_read, answer_write):
            os.close(fd)
        return loops.events, answers

    events, answers = asyncio.run(main())
    assert events == ["start", "wake", "wake", "stop"]
    assert answers == b"000000a1 8\nfirst 1\n000000ff 9\nsecond 2\n"


# A child that answers metrics requests as the background worker does: `serve_loops` with
# loops that do nothing and metrics that count the requests; it answers none while the file
# named by its second argument exists (a busy child).
ANSWERING_CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from nimplane.workers.process import read_hello, serve_loops

    class Loops:
        def start(self): pass
        async def stop(self): pass
        def wake(self): pass

    asked = 0
    def metrics():
        global asked
        asked += 1
        while Path(sys.argv[1]).exists():
            pass
        return b"asked %d\\n" % asked

    read_hello()
    answers = os.dup(1)
    os.dup2(2, 1)
    asyncio.run(serve_loops(Loops(), metrics=metrics, answer_fd=answers))
    """
)


def test_the_api_process_gets_the_childs_metrics_and_skips_an_answer_it_stopped_waiting_for(
    tmp_path: Path,
) -> None:
    busy = tmp_path / "busy"

    async def main() -> list[bytes | None]:
        process = WorkerProcess([sys.executable, "-c", ANSWERING_CHILD, str(busy)], b"{}")
        process.start()
        try:
            got = [await asyncio.to_thread(process.metrics, 60.0)]  # (its start-up)
            busy.touch()
            got.append(await asyncio.to_thread(process.metrics, 0.2))  # it never answers
            busy.unlink()
            got.append(await asyncio.to_thread(process.metrics, 60.0))  # the late one skipped
        finally:
            await process.stop()
        got.append(process.metrics())  # none running
        return got

    assert asyncio.run(main()) == [b"asked 1\n", None, b"asked 3\n", None]


def test_a_child_that_cannot_be_started_is_counted_and_tried_again() -> None:
    async def main() -> WorkerProcess:
        naps: asyncio.Queue[float] = asyncio.Queue()

        async def nap(seconds: float) -> None:
            naps.put_nowait(seconds)
            await asyncio.sleep(0)

        process = WorkerProcess(["/nonexistent/nimplane-worker"], b"{}", sleep=nap)
        process.start()
        assert process.pid is None
        assert await naps.get() == 1.0  # backing off...
        assert await naps.get() == 2.0  # ...doubling
        await process.stop()
        return process

    process = asyncio.run(main())
    assert process.starts == 0
    assert process.failed_starts >= 2
    assert process.metrics() is None


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"00000001 5\nabc", id="a body cut short"),
        pytest.param(b"00000001", id="a header cut short"),
    ],
)
def test_an_incomplete_frame_is_kept_for_the_next_read(frames: bytes) -> None:
    process = WorkerProcess(["true"], b"{}")
    process._answers = frames
    assert process._take_frame() is None
    assert process._answers == frames
