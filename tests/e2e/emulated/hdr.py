"""HdrHistogram's V2 encoding (and its DEFLATE envelope, base64) for the
project's layout: 1 us to 1 h at 3 significant digits. Enough to inject runner
results with wide histograms and to read the operator's merged histogram back
bucket by bucket; written from the format's specification, independent of the
Rust code under test."""

from __future__ import annotations

import base64
import struct
import zlib

# The cookies with the word-size bits (0x10) the Rust hdrhistogram crate writes and requires.
V2 = 0x1C849313
V2_DEFLATE = 0x1C849314
LOWEST, HIGHEST, SIGFIG = 1, 3_600_000_000, 3
SUB_BUCKET_HALF = 1024  # 2 * 10^3 rounded up to a power of two, halved


def value_at(index: int) -> int:
    """The lowest value a counts index stands for."""
    if index < 2 * SUB_BUCKET_HALF:
        return index
    bucket = (index >> 10) - 1
    return ((index & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF) << bucket


def _zigzag_leb128(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    z &= (1 << 64) - 1
    out = bytearray()
    for _ in range(8):
        if z < 0x80:
            out.append(z)
            return bytes(out)
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z & 0xFF)  # the ninth byte carries all 8 bits
    return bytes(out)


def encode(counts: dict[int, int]) -> str:
    """base64 of V2+DEFLATE for counts by index."""
    payload = bytearray()
    zeros = 0
    for i in range(max(counts) + 1 if counts else 0):
        c = counts.get(i, 0)
        if c == 0:
            zeros += 1
            continue
        if zeros:
            payload += _zigzag_leb128(-zeros)
            zeros = 0
        payload += _zigzag_leb128(c)
    v2 = struct.pack(">iiiiqqd", V2, len(payload), 0, SIGFIG, LOWEST, HIGHEST, 1.0) + bytes(payload)
    packed = zlib.compress(v2)
    return base64.b64encode(struct.pack(">ii", V2_DEFLATE, len(packed)) + packed).decode()


def decode(text: str) -> dict[int, int]:
    """Counts by index of a V2+DEFLATE histogram in the project's layout."""
    raw = base64.b64decode(text)
    cookie, length = struct.unpack(">ii", raw[:8])
    assert cookie & ~0xF0 == V2_DEFLATE & ~0xF0, hex(cookie)
    v2 = zlib.decompress(raw[8:8 + length])
    cookie, plen, _offset, sigfig, low, high, _ratio = struct.unpack(">iiiiqqd", v2[:40])
    assert (cookie & ~0xF0, sigfig, low, high) == (V2 & ~0xF0, SIGFIG, LOWEST, HIGHEST), (hex(cookie), sigfig, low, high)
    data, pos, index, counts = v2[40:40 + plen], 0, 0, {}
    while pos < len(data):
        z, shift = 0, 0
        for k in range(9):
            b = data[pos]
            pos += 1
            if k == 8:
                z |= b << shift
                break
            z |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        n = (z >> 1) ^ -(z & 1)
        if n < 0:
            index += -n
        else:
            if n:
                counts[index] = n
            index += 1
    return counts
