#!/usr/bin/env python3
"""Independent implementation of the epurse 3DES core, for cross-checking the Rust one.

Built on pycryptodome (DES, DES3) only; it shares no code with `sam::crypto`. Reads one JSON
case per line on stdin and writes one JSON line per case on stdout, in the same order:

  {"op": "mac", "key": HEX16, "data": HEX, "padding": "none" | "m2"}      -> {"result": HEX8}
  {"op": "diversify", "master": HEX16, "diversifier": HEX8}               -> {"result": HEX16}
  {"op": "session_key", "card_key": HEX16, "rnd": HEX4, "counter": int,
   "tx_type": int, "purse": int}                                          -> {"result": HEX16}
  {"op": "kcv", "key": HEX16}                                             -> {"result": HEX3}
  {"op": "cbc_encrypt", "key": HEX16, "iv": HEX8, "data": HEX}            -> {"result": HEX}

Run by `cargo test -p sam --test crosscheck`. Exit code 3: pycryptodome is not installed.
"""
import json
import struct
import sys

try:
    from Crypto.Cipher import DES, DES3
except ImportError:
    sys.stderr.write(
        "crypto_crosscheck.py: pycryptodome is not installed; run scripts/setup "
        "(or: pip install pycryptodome)\n"
    )
    sys.exit(3)


def pad_m2(data: bytes) -> bytes:
    data += b"\x80"
    return data + b"\x00" * (-len(data) % 8)


def retail_mac(key: bytes, data: bytes, padding: str) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3, computed literally: single-DES CBC under K1 over every
    block, then decrypt under K2 and encrypt under K1."""
    if padding == "m2":
        data = pad_m2(data)
    elif padding != "none":
        raise ValueError(f"unknown padding {padding!r}")
    if not data or len(data) % 8:
        raise ValueError("unpadded MAC input must be a non-empty multiple of 8 bytes")
    k1, k2 = key[:8], key[8:]
    h = DES.new(k1, DES.MODE_CBC, iv=bytes(8)).encrypt(data)[-8:]
    h = DES.new(k2, DES.MODE_ECB).decrypt(h)
    return DES.new(k1, DES.MODE_ECB).encrypt(h)


def diversify(master: bytes, d: bytes) -> bytes:
    """EMV option A: 3DES(MK, D) || 3DES(MK, D xor FF..FF), odd parity."""
    cipher = DES3.new(master, DES3.MODE_ECB)
    left = cipher.encrypt(d)
    right = cipher.encrypt(bytes(b ^ 0xFF for b in d))
    return DES3.adjust_key_parity(left + right)


def session_key(card_key: bytes, rnd: bytes, counter: int, tx_type: int, purse: int) -> bytes:
    return diversify(card_key, struct.pack(">4sHBB", rnd, counter, tx_type, purse))


def kcv(key: bytes) -> bytes:
    return DES3.new(key, DES3.MODE_ECB).encrypt(bytes(8))[:3]


def cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    return DES3.new(key, DES3.MODE_CBC, iv=iv).encrypt(data)


def run(case: dict) -> bytes:
    h = bytes.fromhex
    op = case["op"]
    if op == "mac":
        return retail_mac(h(case["key"]), h(case["data"]), case["padding"])
    if op == "diversify":
        return diversify(h(case["master"]), h(case["diversifier"]))
    if op == "session_key":
        return session_key(
            h(case["card_key"]), h(case["rnd"]), case["counter"], case["tx_type"], case["purse"]
        )
    if op == "kcv":
        return kcv(h(case["key"]))
    if op == "cbc_encrypt":
        return cbc_encrypt(h(case["key"]), h(case["iv"]), h(case["data"]))
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    out = []
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            result = run(json.loads(line))
        except Exception as e:  # report which case, then fail
            sys.stderr.write(f"crypto_crosscheck.py: case {n}: {e}\n")
            return 1
        out.append(json.dumps({"result": result.hex().upper()}))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
