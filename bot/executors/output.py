"""A stage's output, kept within a bound: the head and the tail, with a marker saying how much was cut."""

from __future__ import annotations

import codecs

from core.execution import MAX_STORED_OUTPUT


def cut_marker(count: int) -> str:
    return f"\n[… {count} characters cut …]\n"


class OutputCapture:
    """Bytes in (decoded as UTF-8, invalid bytes replaced), at most ``limit`` characters out."""

    def __init__(self, limit: int = MAX_STORED_OUTPUT) -> None:
        self.limit = limit
        self.head_limit = limit // 2
        self.total = 0
        self._head: list[str] = []
        self._head_size = 0
        self._tail = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> None:
        self._add(self._decoder.decode(data))

    def _add(self, text: str) -> None:
        if not text:
            return
        self.total += len(text)
        room = self.head_limit - self._head_size
        if room > 0:
            self._head.append(text[:room])
            self._head_size += min(room, len(text))
            text = text[room:]
        if text:
            self._tail += text
            # Trim only when the tail is twice its bound, so feeding stays linear.
            if len(self._tail) > 2 * self.limit:
                self._tail = self._tail[-self.limit :]

    def text(self) -> str:
        self._add(self._decoder.decode(b"", final=True))
        head = "".join(self._head)
        if self.total <= self.limit:
            return head + self._tail
        # Find the marker's size first: it depends on the number it shows.
        tail_size = self.limit - len(head) - len(cut_marker(self.total))
        tail_size = self.limit - len(head) - len(cut_marker(self.total - len(head) - tail_size))
        tail = self._tail[-tail_size:] if tail_size > 0 else ""
        return head + cut_marker(self.total - len(head) - len(tail)) + tail
