"""Reading raw bytes: gzip streams decompressed as far as asked, several members in a row,
trailing bytes ignored, truncation and corruption told apart from a good stream."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest

from unimed_kedro.volumes.read import error_text, gunzip

RAW = os.urandom(150_000) + bytes(250_000)


def test_whole_stream_and_a_prefix():
    packed = gzip.compress(RAW)
    assert gunzip(packed, len(RAW) + 1) == RAW
    assert gunzip(packed, 544) == RAW[:544]  # a header: the input fed a slice at a time


@pytest.mark.parametrize("cut", [1, 70_000, 150_001, 399_999])
def test_several_members_read_as_one(cut):
    packed = gzip.compress(RAW[:cut]) + gzip.compress(RAW[cut:])
    assert gunzip(packed, len(RAW) + 1) == RAW
    assert gunzip(packed, 200_000) == RAW[:200_000]


def test_trailing_bytes_ignored_truncation_short_corruption_raised():
    packed = gzip.compress(RAW)
    assert gunzip(packed + bytes(100), len(RAW) + 1) == RAW
    assert len(gunzip(packed[: len(packed) // 2], len(RAW) + 1)) < len(RAW)
    broken = bytearray(packed)
    broken[-6] ^= 1  # the CRC-32 in the trailer
    with pytest.raises(zlib.error) as raised:
        gunzip(bytes(broken), len(RAW) + 1)
    assert (
        error_text(raised.value, "x")
        == "zlib.error: Error -3 while decompressing data: incorrect data check"
    )
