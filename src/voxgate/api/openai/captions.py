"""Transcripts as SRT and WebVTT captions."""

from voxgate.providers.protocols import TranscriptSegment


def srt(segments: tuple[TranscriptSegment, ...]) -> str:
    blocks = [
        f"{index}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n"
        for index, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def vtt(segments: tuple[TranscriptSegment, ...]) -> str:
    cues = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"
