"""Host, SAM and back-office side of SPEC.md: everything computed from master keys and from
what the card returned, never from the card model's internal state."""
from . import crypto as C
from .codec import u8, u16, u32, u64

TT_LOAD, TT_PURCHASE, TT_ADMIN, TT_UNCONNECTED, TT_PERSO_MAC, TT_PERSO_ENC, TT_ADMIN_ENC = 1, 2, 3, 4, 5, 6, 7


def card_keys(mk: dict, serial: bytes) -> dict:
    """SPEC 1.2: K_x = EMVA(MK_x, SERIAL)."""
    return {n: C.emva(mk[n], serial) for n in ("load", "purchase", "tac", "admin")}


def k_xfer(mk: dict, xserial: bytes) -> bytes:
    return C.emva(mk["transfer"], xserial)


def k_settle(mk: dict, sam_id: bytes) -> bytes:
    return C.emva(mk["settlement"], sam_id + b"\x00\x00")


def sk(k: bytes, rnd: bytes, ctr: int, tt: int, x: int):
    d = rnd + u16(ctr) + u8(tt) + u8(x)
    return d, C.emva(k, d)


def rec(tt, purse, ctr, amount, balance, terminal, samseq, datetime, mcc, flags) -> bytes:
    r = (u8(tt) + u8(purse) + u16(ctr) + u32(amount) + u32(balance) + terminal + samseq + datetime
         + mcc + u8(flags))
    assert len(r) == 32
    return r


def tac(k_tac: bytes, serial: bytes, r: bytes):
    m = b"\x13" + serial + r
    return m, C.mac(k_tac, m)


# ---------------------------------------------------------------- personalisation (1.10, 2.13, 3.2)
def perso(k_transport: bytes, rnd: bytes, pd: bytes, padded: bytes | None = None):
    """Returns (C, MAC_P, derived). `padded` overrides pad_m2(PD) (to build a bad-padding case)."""
    dm, sk_mac = sk(k_transport, rnd, 0, TT_PERSO_MAC, 0)
    de, sk_enc = sk(k_transport, rnd, 0, TT_PERSO_ENC, 0)
    p = C.pad_m2(pd) if padded is None else padded
    c = C.tdes_cbc_enc(sk_enc, p)
    mi = bytes.fromhex("84600000") + c
    m = C.mac(sk_mac, mi)
    return c, m, dict(challenge=rnd, enc_session_diversifier=de, enc_session_key=sk_enc,
                      session_diversifier=dm, session_key=sk_mac, pd=pd, pd_padded=p,
                      cryptogram=c, mac_p_input=mi, mac_p=m)


# ---------------------------------------------------------------- load (1.6)
def load_mac1(k_load, serial, rnd, purse, ctr, bal, amount, terminal, expiry):
    d, s = sk(k_load, rnd, ctr, TT_LOAD, purse)
    m = b"\x11" + serial + u8(purse) + u16(ctr) + u32(bal) + u32(amount) + terminal + expiry
    return dict(session_diversifier=d, session_key=s, mac1_input=m, mac1=C.mac(s, m))


def load_mac2(k_load, serial, rnd, purse, ctr, amount, terminal, expiry, datetime):
    d, s = sk(k_load, rnd, ctr, TT_LOAD, purse)
    m = b"\x12" + serial + u8(purse) + u16(ctr) + u32(amount) + terminal + expiry + datetime
    return dict(session_diversifier=d, session_key=s, mac2_input=m, mac2=C.mac(s, m))


# ---------------------------------------------------------------- purchase (1.7), SAM side
def purchase_mac1(k_purchase, serial, rnd, purse, ctr, amount, sam_id, samseq, datetime, mcc):
    d, s = sk(k_purchase, rnd, ctr, TT_PURCHASE, purse)
    m = (b"\x21" + serial + u8(purse) + u16(ctr) + u32(amount) + sam_id + samseq + datetime + mcc)
    return dict(session_diversifier=d, session_key=s, mac1_input=m, mac1=C.mac(s, m))


def purchase_mac2(k_purchase, serial, rnd, purse, ctr, amount, balance_after, samseq):
    _, s = sk(k_purchase, rnd, ctr, TT_PURCHASE, purse)
    m = b"\x22" + serial + u8(purse) + u16(ctr) + u32(amount) + u32(balance_after) + samseq
    return dict(mac2_input=m, mac2=C.mac(s, m))


# ---------------------------------------------------------------- unconnected load (1.8)
def uc_codes(k_load, serial, purse, ctr, amount, expiry):
    d, s = sk(k_load, bytes(4), ctr, TT_UNCONNECTED, purse)
    am = b"\x41" + serial + u8(purse) + u16(ctr) + u32(amount) + expiry
    cm = b"\x42" + serial + u8(purse) + u16(ctr) + u32(amount)
    auth, confirm = C.mac(s, am), C.mac(s, cm)
    return dict(session_diversifier=d, session_key=s, auth_input=am, auth=auth,
                auth_code=u32(C.code8(auth)), auth_code_decimal=f"{C.code8(auth):08d}",
                confirm_input=cm, confirm=confirm, confirm_code=u32(C.code8(confirm)),
                confirm_code_decimal=f"{C.code8(confirm):08d}")


# ---------------------------------------------------------------- issuer commands (1.9)
def admin_mac(k_admin, rnd, actr, header: bytes, data: bytes):
    ins = header[1]
    d, s = sk(k_admin, rnd, actr, TT_ADMIN, ins)
    m = header + data
    return dict(challenge=rnd, admin_counter=u16(actr), session_diversifier=d, session_key=s,
                mac_a_input=m, mac_a=C.mac(s, m))


def admin_enc(k_admin, rnd, actr, ins, block: bytes):
    d, s = sk(k_admin, rnd, actr, TT_ADMIN_ENC, ins)
    return dict(enc_session_diversifier=d, enc_session_key=s, pinblock=block,
                enc_pinblock=C.tdes_enc(s, block))


# ---------------------------------------------------------------- transfer batch (1.11, 3.1)
def batch_header(sam_id, batch_no, datetime, records):
    """records: list of (serial, rec, tac); rec fields decide the e-Cash / food totals."""
    ec = [r for r in records if r[1][1] == 0x01]
    fd = [r for r in records if r[1][1] == 0x02]
    amt = lambda rs: sum(int.from_bytes(r[1][4:8], "big") for r in rs)
    seqs = [r[1][18:22] for r in records]
    hdr = (b"\x01" + sam_id + u32(batch_no) + datetime + u32(len(ec)) + u64(amt(ec))
           + u32(len(fd)) + u64(amt(fd)) + seqs[0] + seqs[-1])
    assert len(hdr) == 50
    return hdr


def seal(k_set, header, records_bytes):
    m = b"\x50" + header + records_bytes
    return m, C.mac(k_set, m)


def ack_sam(k_set, ackdata, seal_):
    m = b"\x51" + ackdata + seal_
    return m, C.mac(k_set, m)


def ack_card(k_x, xserial, ackdata, seal_):
    m = b"\x52" + xserial + ackdata + seal_
    return m, C.mac(k_x, m)
