"""Independent Python reference model of the epurse cards (apdu-spec/SPEC.md v1.0).

Used by scripts/gen_vectors.py to produce the shared test vectors in apdu-spec/vectors/.
Only the standard library and pycryptodome (for the DES block primitive) are used.
"""
