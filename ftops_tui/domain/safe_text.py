"""Words from outside made safe to show on a terminal.

Route ids, actors, reasons, version tags, event kinds, registry names and tags, and the
relay's or MLflow's error messages are written by whoever can call the relay or the
registry. A terminal obeys control characters: ESC starts sequences that set the window
title (OSC 0), write the clipboard (OSC 52), clear the screen or move the cursor; BEL rings;
bidi overrides make a word read backwards. So before any such word is shown, each control
character becomes a visible escape, and the word is cut to a length a screen can hold:

- C0 controls and DEL become their Unicode control pictures (`ESC` -> `␛`, `BEL` -> `␇`,
  newline -> `␊`, DEL -> `␡`);
- C1 controls (`0x80`-`0x9f`, CSI among them), bidi embeddings, overrides and isolates,
  zero-width and other invisible format characters, and line or paragraph separators become
  `\\u202e`-style escapes;
- everything else, printable text of any script, is kept as it was.

The result holds no character a terminal acts on, and showing it again changes nothing
(`visible(visible(s)) == visible(s)`). JSON output and the audit log keep the words as they
were sent: JSON escapes control characters itself, and the log is a record.
"""

from __future__ import annotations

import re
import unicodedata

#: A word from outside is cut to this many characters (then `…`) before it is laid out:
#: a screen line is shorter, and a word of 100 KB, or of 9,000 combining marks, would cost
#: its layout seconds.
WORD_LIMIT = 256

_PICTURE_BASE = 0x2400  # U+2400 SYMBOL FOR NULL: the pictures of C0 follow in order
_DELETE_PICTURE = "\u2421"  # ␡
# Categories a terminal may act on or a reader cannot see: controls, format characters
# (bidi marks and overrides, zero-width joiners, the BOM, ...), line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _shown(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(_PICTURE_BASE + code)
    if code == 0x7F:
        return _DELETE_PICTURE
    if unicodedata.category(char) in _HIDDEN:
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


def visible(text: str) -> str:
    """`text` with every character a terminal acts on, or a reader cannot see, escaped."""
    if text.isprintable():  # the common case, checked in C: nothing to escape
        return text
    return "".join(_shown(char) for char in text)


def safe(text: str, limit: int = WORD_LIMIT) -> str:
    """A word from outside as it may be shown: escaped (`visible`), at most `limit`
    characters, the cut marked with `…`."""
    # Cut first, so a huge word costs no more than a short one; the escapes can make a
    # character several, so the result is cut again.
    shown = visible(text[: limit + 1])
    if len(shown) <= limit and len(text) <= limit:
        return shown
    return shown[: max(0, limit - 1)] + "…"


def visible_lines(text: str) -> str:
    """Text of several lines (a command's output) with each line made `visible`: the line
    breaks stay, nothing else a terminal acts on does."""
    return "\n".join(visible(line) for line in text.split("\n"))


# Up to the last `@` before the path: a password may hold an `@` itself.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def without_userinfo(url: str) -> str:
    """A URL as it may be shown: a `user:password@` in it (a relay URL, a tracking URI, even
    one with a mistyped scheme) becomes `***@`."""
    return _USERINFO.sub(r"\1***@", url)
