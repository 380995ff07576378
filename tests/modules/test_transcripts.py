"""
The roster and presence-subscription transcripts (``transcripts/*.scs``):
each one a conversation between named clients, played on the memory, SQLite and MariaDB stores
(SPEC §8).
"""

from pathlib import Path

import pytest

from tests.conftest import WITH_MEMORY

from tests.aio import asyncioTest
from tests.transcript.runner import playTranscriptFile, transcriptsIn

TRANSCRIPTS = transcriptsIn(Path(__file__).parent / "transcripts")


@pytest.mark.parametrize("backend", WITH_MEMORY)
@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=[path.stem for path in TRANSCRIPTS])
@asyncioTest
async def test_transcript(serve, backend, transcript):
    await playTranscriptFile(transcript, serve, backend)
