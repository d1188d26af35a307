"""An HTTP answer's body, decoded as it arrives, with a cap on its size after decoding.

A relay's answer is read whole before it is parsed, so its size must be bounded where it is
read: a small gzip body can expand a thousandfold (a "gzip bomb": a few MB on the wire, a GB
in memory), so the cap applies to the decoded bytes, and decoding stops at the cap instead
of producing everything first. Only what a relay may send is decoded (identity, gzip,
deflate); anything else is refused as the relay's fault.
"""

from __future__ import annotations

import zlib


class BodyRefused(Exception):
    """The body is too large, or its encoding is unknown or corrupt: the relay's fault."""


class BoundedBody:
    def __init__(
        self, content_encoding: str, limit: int, setting: str = "relay.max_answer_mb"
    ) -> None:
        self.limit = limit
        self._setting = setting  # the config key that sets the limit, for the message
        self._chunks: list[bytes] = []
        self._size = 0
        encodings = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        if len(encodings) > 1:
            raise BodyRefused(f"answer encoded more than once ({content_encoding})")
        self._decoder: zlib._Decompress | None = None
        if encodings:
            if encodings[0] in ("gzip", "x-gzip"):
                self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif encodings[0] == "deflate":
                self._decoder = zlib.decompressobj()
            else:
                raise BodyRefused(
                    f"answer in an encoding this console does not read: {encodings[0]}"
                )

    def feed(self, data: bytes) -> None:
        if self._decoder is None:
            self._take(data)
            return
        try:
            while data:
                # Never more than one byte past the cap at a time: a chunk of a few KB may
                # stand for GBs.
                self._take(self._decoder.decompress(data, self.limit - self._size + 1))
                data = self._decoder.unconsumed_tail
        except zlib.error as exc:
            raise BodyRefused(f"answer's compressed body is corrupt ({exc})") from None

    def body(self) -> bytes:
        if self._decoder is not None:
            try:
                self._take(self._decoder.flush())
            except zlib.error as exc:
                raise BodyRefused(f"answer's compressed body is corrupt ({exc})") from None
            if not self._decoder.eof:
                raise BodyRefused("answer's compressed body is cut short")
        return b"".join(self._chunks)

    def _take(self, decoded: bytes) -> None:
        self._size += len(decoded)
        if self._size > self.limit:
            raise BodyRefused(
                f"answer larger than {self.limit / 2**20:g} MB after decoding ({self._setting})"
            )
        self._chunks.append(decoded)
