"""SPEC.md section 1: cryptographic primitives, written from the SPEC text only.

pycryptodome supplies the single-DES block primitive; two-key 3DES, CBC, the ISO/IEC 9797-1
retail MAC, padding method 2, EMVA diversification, KCV and code8 are built here on top of it.
(3DES is composed from single DES on purpose: pycryptodome's DES3 refuses degenerate keys, and
building it by hand keeps the construction visible.)
"""
from Crypto.Cipher import DES

ZERO8 = bytes(8)
FF8 = b"\xff" * 8


def _des_e(k: bytes, b: bytes) -> bytes:
    return DES.new(k, DES.MODE_ECB).encrypt(b)


def _des_d(k: bytes, b: bytes) -> bytes:
    return DES.new(k, DES.MODE_ECB).decrypt(b)


def xor(a: bytes, b: bytes) -> bytes:
    assert len(a) == len(b)
    return bytes(x ^ y for x, y in zip(a, b))


def _split(key: bytes):
    if len(key) != 16:
        raise ValueError("two-key 3DES needs a 16-byte key")
    return key[:8], key[8:]


def tdes_enc(key: bytes, block: bytes) -> bytes:
    """E_K1(D_K2(E_K1(x))) on one 8-byte block."""
    k1, k2 = _split(key)
    assert len(block) == 8
    return _des_e(k1, _des_d(k2, _des_e(k1, block)))


def tdes_dec(key: bytes, block: bytes) -> bytes:
    k1, k2 = _split(key)
    assert len(block) == 8
    return _des_d(k1, _des_e(k2, _des_d(k1, block)))


def tdes_cbc_enc(key: bytes, data: bytes, iv: bytes = ZERO8) -> bytes:
    assert len(data) % 8 == 0
    out, prev = bytearray(), iv
    for i in range(0, len(data), 8):
        prev = tdes_enc(key, xor(prev, data[i:i + 8]))
        out += prev
    return bytes(out)


def tdes_cbc_dec(key: bytes, data: bytes, iv: bytes = ZERO8) -> bytes:
    assert len(data) % 8 == 0
    out, prev = bytearray(), iv
    for i in range(0, len(data), 8):
        blk = data[i:i + 8]
        out += xor(prev, tdes_dec(key, blk))
        prev = blk
    return bytes(out)


def pad_m2(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 80 then 00 up to a multiple of 8 (always adds >= 1 byte)."""
    data = data + b"\x80"
    return data + bytes((-len(data)) % 8)


def unpad_m2(data: bytes):
    """Inverse of pad_m2; None when the padding is malformed."""
    if len(data) == 0 or len(data) % 8:
        return None
    i = len(data) - 1
    while i >= 0 and data[i] == 0:
        i -= 1
    if i < 0 or data[i] != 0x80 or len(data) - i > 8:
        return None
    return data[:i]


def retail_mac_nopad(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 (DES, IV 0, output transformation 3) over data that is
    already a multiple of 8 bytes."""
    k1, k2 = _split(key)
    if len(data) == 0 or len(data) % 8:
        raise ValueError("retail_mac_nopad needs a non-empty multiple of 8 bytes")
    h = ZERO8
    for i in range(0, len(data), 8):
        h = _des_e(k1, xor(h, data[i:i + 8]))
    return _des_e(k1, _des_d(k2, h))


def mac(key: bytes, msg: bytes) -> bytes:
    """MAC(K, M) of SPEC 1.1: retail MAC with padding method 2, 8-byte output."""
    return retail_mac_nopad(key, pad_m2(msg))


def kcv(key: bytes) -> bytes:
    return tdes_enc(key, ZERO8)[:3]


def odd_parity(key: bytes) -> bytes:
    out = bytearray()
    for b in key:
        hi = b & 0xFE
        ones = bin(hi).count("1")
        out.append(hi | (0 if ones % 2 else 1))
    return bytes(out)


def emva(key: bytes, d: bytes) -> bytes:
    """EMVA(K, D): L = 3DES_K(D), R = 3DES_K(D xor FF..FF), L || R with odd parity."""
    if len(d) != 8:
        raise ValueError("EMVA diversification data must be 8 bytes")
    return odd_parity(tdes_enc(key, d) + tdes_enc(key, xor(d, FF8)))


def code8(m: bytes) -> int:
    """First 4 bytes of a MAC as a big-endian u32, modulo 100 000 000."""
    return int.from_bytes(m[:4], "big") % 100_000_000


def ct_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison (all bytes examined)."""
    if len(a) != len(b):
        return False
    r = 0
    for x, y in zip(a, b):
        r |= x ^ y
    return r == 0
