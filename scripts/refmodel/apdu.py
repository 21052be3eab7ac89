"""Short APDU parsing and status-word plumbing shared by the card models."""
from dataclasses import dataclass


class SW(Exception):
    """Raised by a card model to end a command with a status word (no data)."""

    def __init__(self, sw: int):
        super().__init__(f"{sw:04X}")
        self.sw = sw


@dataclass
class Apdu:
    cla: int
    ins: int
    p1: int
    p2: int
    lc: int          # 0 when absent
    data: bytes
    le: int | None   # None when absent; 0 means "00"

    @property
    def p1p2(self) -> int:
        return (self.p1 << 8) | self.p2


def parse(apdu: bytes) -> Apdu:
    """ISO/IEC 7816-3 short APDU cases 1..4. The vectors only contain well-formed APDUs."""
    if len(apdu) < 4:
        raise ValueError("APDU shorter than 4 bytes")
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    if len(body) == 0:
        return Apdu(cla, ins, p1, p2, 0, b"", None)
    if len(body) == 1:
        return Apdu(cla, ins, p1, p2, 0, b"", body[0])
    lc = body[0]
    if lc == 0 or len(body) not in (1 + lc, 2 + lc):
        raise ValueError("malformed short APDU")
    data = body[1:1 + lc]
    le = body[1 + lc] if len(body) == 2 + lc else None
    return Apdu(cla, ins, p1, p2, lc, data, le)
