"""Small encoding helpers shared by the card models and the host side."""

import calendar


def h(b: bytes) -> str:
    """Upper-case hex, the only spelling used in the vectors."""
    return b.hex().upper()


def u8(n: int) -> bytes:
    return n.to_bytes(1, "big")


def u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def be(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _bcd_digits(b: bytes):
    out = []
    for x in b:
        hi, lo = x >> 4, x & 0x0F
        if hi > 9 or lo > 9:
            return None
        out.append(hi * 10 + lo)
    return out


def bcd(s: str) -> bytes:
    """'20261123' -> 20 26 11 23."""
    assert len(s) % 2 == 0 and s.isdigit()
    return bytes.fromhex(s)


def valid_date(b: bytes) -> bool:
    """DATE: 4 bytes BCD YYYY MM DD. Month 01..12, day 01..last day of the month (Gregorian)."""
    d = _bcd_digits(b)
    if d is None or len(b) != 4:
        return False
    cc, yy, mm, dd = d
    if not 1 <= mm <= 12:
        return False
    year = cc * 100 + yy
    return 1 <= dd <= calendar.monthrange(year if year else 2000, mm)[1]


def valid_datetime(b: bytes) -> bool:
    """DATETIME: 7 bytes BCD YYYY MM DD hh mm ss."""
    d = _bcd_digits(b)
    if d is None or len(b) != 7:
        return False
    return valid_date(b[:4]) and d[4] <= 23 and d[5] <= 59 and d[6] <= 59


def valid_mcc(b: bytes) -> bool:
    return len(b) == 2 and _bcd_digits(b) is not None


def pinblock(pin: str) -> bytes:
    """ISO 9564 format 2: 2N, PIN digits as nibbles, F fill to 8 bytes."""
    assert 4 <= len(pin) <= 8 and pin.isdigit()
    s = "2" + str(len(pin)) + pin
    s = s + "F" * (16 - len(s))
    return bytes.fromhex(s)


def valid_pinblock(b: bytes) -> bool:
    if len(b) != 8:
        return False
    s = b.hex().upper()
    if s[0] != "2":
        return False
    n = int(s[1], 16)
    if not 4 <= n <= 8:
        return False
    digits, fill = s[2:2 + n], s[2 + n:]
    return all(c in "0123456789" for c in digits) and all(c == "F" for c in fill)
