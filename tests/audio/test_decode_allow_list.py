"""Client bytes are decoded as audio only: nothing in them makes the decoder open another file."""

import errno
import io
import os
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.audio.test_codecs import tone
from voxgate.audio.decode import AudioDecodeError, decode
from voxgate.audio.encode import encode

OPEN_WAIT_SECONDS = 5.0
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"


def referencing(name: str) -> dict[str, bytes]:
    """Payloads that name a file relative to the working directory, each to another demuxer."""
    return {
        "ffconcat": f"ffconcat version 1.0\nfile '{name}'\n".encode(),
        "hls": f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{name}\n#EXT-X-ENDLIST\n".encode(),
        "image2-pattern": f"ffconcat version 1.0\nfile '{name}%d'\n".encode(),
        "image": PNG_HEADER,
    }


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Speech in a file next to the working directory, as a recording on a server would be."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "call-0001.wav"
    path.write_bytes(encode(tone(), "wav"))
    return path


@pytest.mark.parametrize("kind", ["ffconcat", "hls", "image2-pattern", "image"])
def test_a_payload_naming_a_file_is_refused(planted: Path, kind: str) -> None:
    with pytest.raises(AudioDecodeError):
        decode(referencing(planted.name)[kind], max_seconds=60)


@pytest.mark.parametrize("kind", ["ffconcat", "hls", "image2-pattern"])
def test_a_path_that_exists_and_one_that_does_not_read_the_same(planted: Path, kind: str) -> None:
    with pytest.raises(AudioDecodeError) as present:
        decode(referencing(planted.name)[kind], max_seconds=60)
    with pytest.raises(AudioDecodeError) as absent:
        decode(referencing("no-such-recording.wav")[kind], max_seconds=60)
    assert str(present.value) == str(absent.value)
    assert planted.name not in str(present.value)


def test_no_file_is_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A named pipe shows an open: a writer can attach only while a reader holds it open."""
    monkeypatch.chdir(tmp_path)
    fifo = tmp_path / "planted.wav"
    os.mkfifo(fifo)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            decode(referencing(fifo.name)["ffconcat"], max_seconds=60)
        except BaseException as exc:
            failures.append(exc)

    decoder = threading.Thread(target=run, daemon=True)
    decoder.start()
    opened = False
    deadline = time.monotonic() + OPEN_WAIT_SECONDS
    while decoder.is_alive() and time.monotonic() < deadline:
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            assert exc.errno == errno.ENXIO  # no reader: not opened (yet)
            time.sleep(0.01)
            continue
        opened = True
        os.close(writer)  # the reader sees the end and the decoder finishes
        break
    decoder.join(OPEN_WAIT_SECONDS)
    assert not opened, "the decoder opened a file named inside the client's bytes"
    assert not decoder.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], AudioDecodeError)


def container_file(container: str, codec: str) -> bytes:
    """A tone in a container the gateway never writes but clients send (voice notes, m4a)."""
    source = tone(rate=48_000)
    out = io.BytesIO()
    with av.open(out, "w", format=container) as media:
        stream = media.add_stream(codec, rate=48_000, layout="mono")
        assert isinstance(stream, av.AudioStream)
        samples = np.frombuffer(source.samples, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 48_000
        for packet in stream.encode(frame):
            media.mux(packet)
        for packet in stream.encode(None):
            media.mux(packet)
    return out.getvalue()


@pytest.mark.parametrize(
    ("container", "codec"), [("mp4", "aac"), ("ipod", "aac"), ("webm", "libopus")]
)
def test_client_containers_still_decode(container: str, codec: str) -> None:
    audio = decode(container_file(container, codec), max_seconds=60)
    assert audio.duration_seconds == pytest.approx(1.5, abs=0.1)
