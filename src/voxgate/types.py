"""Type names shared across the layers."""

from typing import Literal, NewType

MicroUSD = NewType("MicroUSD", int)
"""Money: an integer number of millionths of a US dollar."""

Task = Literal["tts", "audio_chat", "realtime", "transcription", "translation"]
RequestedTask = Literal["auto", "tts", "audio_chat", "realtime", "transcription", "translation"]
AudioFormat = Literal["mp3", "wav", "opus", "flac", "pcm16", "aac"]
Modality = Literal["text", "audio"]
