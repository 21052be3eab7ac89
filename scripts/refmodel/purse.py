"""Reference model of the purse applet (SPEC.md section 2 and 4), written from the SPEC text.

The model keeps persistent state (what the applet would keep in EEPROM) and per-card-session
transient state (challenge, load/purchase session, PIN verified). `process(apdu)` returns the
full response (data || SW). `trace` holds the card-side intermediate values of the last command.
"""
from . import crypto as C
from .apdu import SW, parse
from .codec import (u8, u16, u32, be, valid_date, valid_datetime, valid_mcc, valid_pinblock)

PURSE_AID = bytes.fromhex("F045505552534501")
VERSION = bytes([0x01, 0x00])
DEFAULT_TRANSPORT_KEY = bytes.fromhex("404142434445464748494A4B4C4D4E4F")

BLANK, ACTIVE, BLOCKED = 0x01, 0x02, 0x03
ECASH, FOOD = 0x01, 0x02
TT_LOAD, TT_PURCHASE, TT_ADMIN, TT_UNCONNECTED, TT_PERSO_MAC, TT_PERSO_ENC, TT_ADMIN_ENC = 1, 2, 3, 4, 5, 6, 7
LOG_SIZE = 16
MAX_VALUE = 0x7FFFFFFF
ALG = 0x01

# (CLA, INS) pairs of the command summary (SPEC 2.4). INS 24 is CHANGE PIN with CLA 00 and
# PIN UNBLOCK with CLA 84.
COMMANDS = {
    (0x00, 0xA4): "select",
    (0x80, 0x5E): "get_status",
    (0x80, 0x5C): "read_log",
    (0x80, 0x50): "initialize_load",
    (0x80, 0x52): "credit_load",
    (0x80, 0x54): "initialize_purchase",
    (0x80, 0x56): "debit_purchase",
    (0x80, 0x5A): "get_transaction_proof",
    (0x80, 0x58): "unconnected_load",
    (0x00, 0x20): "verify_pin",
    (0x00, 0x24): "change_pin",
    (0x00, 0x84): "get_challenge",
    (0x84, 0x60): "personalize",
    (0x84, 0x1E): "application_block",
    (0x84, 0x18): "application_unblock",
    (0x84, 0x24): "pin_unblock",
    (0x84, 0x72): "set_limits",
}
KNOWN_INS = {ins for (_, ins) in COMMANDS}


def session_key(k: bytes, rnd: bytes, ctr: int, tt: int, x: int):
    """SPEC 1.3: SK = EMVA(K, RND || CTR || TT || X). Returns (diversifier, key)."""
    d = rnd + u16(ctr) + u8(tt) + u8(x)
    return d, C.emva(k, d)


def tac_of(k_tac: bytes, serial: bytes, rec: bytes):
    m = b"\x13" + serial + rec
    return m, C.mac(k_tac, m)


def make_rec(tt, purse, ctr, amount, balance, terminal, samseq, datetime, mcc, flags) -> bytes:
    rec = (u8(tt) + u8(purse) + u16(ctr) + u32(amount) + u32(balance) + terminal + samseq
           + datetime + mcc + u8(flags))
    assert len(rec) == 32
    return rec


def parse_limits(b: bytes):
    vals = [be(b[i:i + 4]) for i in range(0, 24, 4)]
    return dict(ecash_max_balance=vals[0], ecash_max_amount=vals[1], food_max_balance=vals[2],
                food_max_amount=vals[3], no_pin_limit=vals[4], uc_max=vals[5])


def limits_valid(l) -> bool:
    if any(v > MAX_VALUE for v in l.values()):
        return False
    return (l["ecash_max_amount"] <= l["ecash_max_balance"]
            and l["food_max_amount"] <= l["food_max_balance"])


class Purse:
    def __init__(self):
        self.balance = 0
        self.load_ctr = 0
        self.purchase_ctr = 0
        self.expiry = bytes(4)


class PurseCard:
    def __init__(self, rng, install_param: bytes | None = None):
        """rng() returns the next 4 random bytes; install_param is the transport key."""
        self.rng = rng
        self.transport_key = install_param if install_param else DEFAULT_TRANSPORT_KEY
        # persistent
        self.lifecycle = BLANK
        self.serial = bytes(8)
        self.kv = 0
        self.k_load = self.k_purchase = self.k_tac = self.k_admin = bytes(16)
        self.limits = dict(ecash_max_balance=0, ecash_max_amount=0, food_max_balance=0,
                           food_max_amount=0, no_pin_limit=0, uc_max=0)
        self.pin = bytes(8)
        self.pin_limit = 0
        self.pin_tries = 0
        self.uc_limit = 0
        self.uc_remaining = 0
        self.mcc_count = 0
        self.mccs = bytes(16)
        self.admin_ctr = 0
        self.purses = {ECASH: Purse(), FOOD: Purse()}
        self.log = []          # newest first, entries are REC(32) || TAC(8) || MAC2(8)
        # transient (card session)
        self._clear_session()
        self.trace = {}

    # ------------------------------------------------------------------ plumbing
    def _clear_session(self):
        self.challenge = None
        self.load_session = None
        self.purchase_session = None
        self.pin_verified = False

    def _draw(self) -> bytes:
        r = self.rng()
        assert len(r) == 4
        self.trace["card_random"] = r
        return r

    def process(self, raw: bytes) -> bytes:
        self.trace = {}
        a = parse(raw)
        # SPEC 4.2: the challenge and the load/purchase session are consumed by the next
        # command, whatever it is; the command handler receives them.
        challenge, load_s, purchase_s = self.challenge, self.load_session, self.purchase_session
        self.challenge = self.load_session = self.purchase_session = None
        try:
            if a.ins not in KNOWN_INS:
                raise SW(0x6D00)
            name = COMMANDS.get((a.cla, a.ins))
            if name is None:
                raise SW(0x6E00)
            handler = getattr(self, "_" + name)
            data, sw = handler(a, challenge=challenge, load_s=load_s, purchase_s=purchase_s)
        except SW as e:
            data, sw = b"", e.sw
        return data + u16(sw)

    def _purse_p1(self, p1):
        if p1 not in (ECASH, FOOD):
            raise SW(0x6A86)
        return self.purses[p1]

    def _need_active(self):
        if self.lifecycle == BLANK:
            raise SW(0x6985)
        if self.lifecycle == BLOCKED:
            raise SW(0x9303)

    def _need_personalised(self):
        if self.lifecycle == BLANK:
            raise SW(0x6985)

    def _max(self, purse_id):
        if purse_id == ECASH:
            return self.limits["ecash_max_balance"], self.limits["ecash_max_amount"]
        return self.limits["food_max_balance"], self.limits["food_max_amount"]

    def _append_log(self, rec, tac, mac2):
        self.log.insert(0, rec + tac + mac2)
        del self.log[LOG_SIZE:]

    def capabilities(self) -> int:
        if self.lifecycle == BLANK:
            return 0x00
        cap = 0x01 | 0x02 | 0x08          # both purses exist; the PIN is set at personalisation
        if self.uc_remaining > 0 and self.limits["uc_max"] > 0:
            cap |= 0x04
        return cap

    def fci(self) -> bytes:
        a5 = (b"\xC1\x08" + self.serial + b"\xC2\x02" + VERSION + b"\xC3\x01" + u8(self.lifecycle)
              + b"\xC4\x01" + u8(self.capabilities()) + b"\xC5\x01" + u8(self.kv))
        inner = b"\x84\x08" + PURSE_AID + b"\xA5" + u8(len(a5)) + a5
        return b"\x6F" + u8(len(inner)) + inner

    # ------------------------------------------------------------------ commands
    def _select(self, a, **_):
        if a.p1 != 0x04 or a.data != PURSE_AID:
            raise SW(0x6A82)
        self._clear_session()      # reselection = deselect + select: all session state cleared
        return self.fci(), (0x6283 if self.lifecycle == BLOCKED else 0x9000)

    def status_bytes(self) -> bytes:
        if self.lifecycle == BLANK:
            return u8(BLANK) + bytes(80)
        out = (u8(self.lifecycle) + u8(self.kv) + u8(self.pin_tries) + u8(self.pin_limit)
               + u8(self.uc_remaining) + u8(self.uc_limit) + u16(self.admin_ctr)
               + u32(self.limits["no_pin_limit"]) + u32(self.limits["uc_max"]))
        for pid in (ECASH, FOOD):
            p = self.purses[pid]
            mb, ma = self._max(pid)
            out += (u32(p.balance) + u16(p.load_ctr) + u16(p.purchase_ctr) + u32(mb) + u32(ma)
                    + p.expiry)
        out += u8(self.mcc_count) + self.mccs + self.serial
        assert len(out) == 81
        return out

    def _get_status(self, a, **_):
        return self.status_bytes(), 0x9000

    def _read_log(self, a, **_):
        self._need_personalised()
        if a.p2 != 0x00:
            raise SW(0x6A86)
        if a.p1 >= len(self.log):
            raise SW(0x6A83)
        return self.log[a.p1][:40], 0x9000

    def _get_transaction_proof(self, a, **_):
        self._need_personalised()
        if a.p1 not in (ECASH, FOOD) or a.p2 not in (TT_LOAD, TT_PURCHASE, TT_UNCONNECTED):
            raise SW(0x6A86)
        if a.lc != 2:
            raise SW(0x6700)
        want = u8(a.p2) + u8(a.p1) + a.data
        for e in self.log:
            if e[:4] == want:
                return e, 0x9000
        raise SW(0x6A88)

    # -------------------------------------------------------------- load
    def _check_expiry(self, purse_id, expiry):
        if purse_id == ECASH:
            if expiry != bytes(4):
                raise SW(0x6A80)
        elif expiry == bytes(4) or not valid_date(expiry):
            raise SW(0x6A80)

    def _initialize_load(self, a, **_):
        self._need_active()
        p = self._purse_p1(a.p1)
        if a.p2 not in (0x00, self.kv):
            raise SW(0x9403)
        if a.lc != 0x0E:
            raise SW(0x6700)
        amount, terminal, expiry = be(a.data[0:4]), a.data[4:10], a.data[10:14]
        if amount == 0:
            raise SW(0x6A80)
        self._check_expiry(a.p1, expiry)
        mb, ma = self._max(a.p1)
        if amount > ma:
            raise SW(0x9404)
        if p.balance + amount > mb:
            raise SW(0x9405)
        if p.load_ctr >= 0xFFFF:
            raise SW(0x9402)
        rnd = self._draw()
        ctr = p.load_ctr + 1
        d, sk = session_key(self.k_load, rnd, ctr, TT_LOAD, a.p1)
        m1 = b"\x11" + self.serial + u8(a.p1) + u16(ctr) + u32(p.balance) + u32(amount) + terminal + expiry
        mac1 = C.mac(sk, m1)
        self.trace.update(session_diversifier=d, session_key=sk, mac1_input=m1, mac1=mac1)
        self.load_session = dict(purse=a.p1, amount=amount, terminal=terminal, expiry=expiry,
                                 ctr=ctr, rnd=rnd, sk=sk)
        return u32(p.balance) + u16(ctr) + u8(self.kv) + u8(ALG) + rnd + mac1, 0x9000

    def _credit_load(self, a, load_s=None, **_):
        self._need_active()
        s = load_s
        if s is None:
            raise SW(0x6985)
        if a.p1 != s["purse"]:
            raise SW(0x6A86)
        if a.lc != 0x0F:
            raise SW(0x6700)
        dt, mac2 = a.data[0:7], a.data[7:15]
        if not valid_datetime(dt):
            raise SW(0x6A80)
        m2 = (b"\x12" + self.serial + u8(s["purse"]) + u16(s["ctr"]) + u32(s["amount"])
              + s["terminal"] + s["expiry"] + dt)
        exp = C.mac(s["sk"], m2)
        self.trace.update(mac2_input=m2, mac2_expected=exp)
        if not C.ct_equal(exp, mac2):
            raise SW(0x9302)
        p = self.purses[s["purse"]]
        # --- one Java Card transaction
        p.balance += s["amount"]
        p.load_ctr = s["ctr"]
        if s["purse"] == FOOD:
            p.expiry = max(p.expiry, s["expiry"])
        rec = make_rec(TT_LOAD, s["purse"], s["ctr"], s["amount"], p.balance, s["terminal"],
                       bytes(4), dt, bytes(2), 0x00)
        tm, tac = tac_of(self.k_tac, self.serial, rec)
        self._append_log(rec, tac, bytes(8))
        # ---
        self.trace.update(rec=rec, tac_input=tm, tac=tac)
        return u32(p.balance) + tac, 0x9000

    # -------------------------------------------------------------- purchase
    def _initialize_purchase(self, a, **_):
        self._need_active()
        p = self._purse_p1(a.p1)
        if a.p2 not in (0x00, self.kv):
            raise SW(0x9403)
        if a.lc != 0x0A:
            raise SW(0x6700)
        amount, sam_id = be(a.data[0:4]), a.data[4:10]
        if amount == 0:
            raise SW(0x6A80)
        _, ma = self._max(a.p1)
        if amount > ma:
            raise SW(0x9404)
        if amount > p.balance:
            raise SW(0x9401)
        if p.purchase_ctr >= 0xFFFF:
            raise SW(0x9402)
        if amount > self.limits["no_pin_limit"] and not self.pin_verified:
            raise SW(0x6983 if self.pin_tries == 0 else 0x6982)
        rnd = self._draw()
        ctr = p.purchase_ctr + 1
        d, sk = session_key(self.k_purchase, rnd, ctr, TT_PURCHASE, a.p1)
        self.trace.update(session_diversifier=d, session_key=sk)
        self.purchase_session = dict(purse=a.p1, amount=amount, sam_id=sam_id, ctr=ctr, rnd=rnd, sk=sk)
        return u32(p.balance) + u16(ctr) + u8(self.kv) + u8(ALG) + rnd, 0x9000

    def _debit_purchase(self, a, purchase_s=None, **_):
        self._need_active()
        s = purchase_s
        if s is None:
            raise SW(0x6985)
        if a.p1 != s["purse"]:
            raise SW(0x6A86)
        if a.lc != 0x15:
            raise SW(0x6700)
        samseq, dt, mcc, mac1 = a.data[0:4], a.data[4:11], a.data[11:13], a.data[13:21]
        if not valid_datetime(dt) or not valid_mcc(mcc):
            raise SW(0x6A80)
        m1 = (b"\x21" + self.serial + u8(s["purse"]) + u16(s["ctr"]) + u32(s["amount"]) + s["sam_id"]
              + samseq + dt + mcc)
        exp = C.mac(s["sk"], m1)
        self.trace.update(mac1_input=m1, mac1_expected=exp)
        if not C.ct_equal(exp, mac1):
            raise SW(0x9302)
        p = self.purses[s["purse"]]
        if s["purse"] == FOOD:
            allowed = [self.mccs[2 * i:2 * i + 2] for i in range(self.mcc_count)]
            if mcc not in allowed:
                raise SW(0x9406)
            if p.expiry == bytes(4) or dt[:4] > p.expiry:
                raise SW(0x9407)
        # --- one Java Card transaction
        p.balance -= s["amount"]
        p.purchase_ctr = s["ctr"]
        flags = 0x01 if self.pin_verified else 0x00
        rec = make_rec(TT_PURCHASE, s["purse"], s["ctr"], s["amount"], p.balance, s["sam_id"],
                       samseq, dt, mcc, flags)
        m2 = b"\x22" + self.serial + u8(s["purse"]) + u16(s["ctr"]) + u32(s["amount"]) + u32(p.balance) + samseq
        mac2 = C.mac(s["sk"], m2)
        tm, tac = tac_of(self.k_tac, self.serial, rec)
        self._append_log(rec, tac, mac2)
        # ---
        self.trace.update(mac2_input=m2, mac2=mac2, rec=rec, tac_input=tm, tac=tac)
        return u32(p.balance) + mac2 + tac, 0x9000

    # -------------------------------------------------------------- unconnected load
    def _unconnected_load(self, a, **_):
        self._need_active()
        p = self._purse_p1(a.p1)
        if self.uc_remaining == 0:
            raise SW(0x9408)
        if a.lc != 0x13:
            raise SW(0x6700)
        amount, expiry, dt, code = be(a.data[0:4]), a.data[4:8], a.data[8:15], be(a.data[15:19])
        if amount == 0:
            raise SW(0x6A80)
        self._check_expiry(a.p1, expiry)
        if not valid_datetime(dt):
            raise SW(0x6A80)
        mb, ma = self._max(a.p1)
        if amount > self.limits["uc_max"] or amount > ma:
            raise SW(0x9404)
        if p.balance + amount > mb:
            raise SW(0x9405)
        if p.load_ctr >= 0xFFFF:
            raise SW(0x9402)
        ctr = p.load_ctr + 1
        d, sk = session_key(self.k_load, bytes(4), ctr, TT_UNCONNECTED, a.p1)
        am = b"\x41" + self.serial + u8(a.p1) + u16(ctr) + u32(amount) + expiry
        auth = C.mac(sk, am)
        self.trace.update(session_diversifier=d, session_key=sk, auth_input=am, auth=auth,
                          auth_code=C.code8(auth))
        if C.code8(auth) != code:
            self.uc_remaining -= 1
            raise SW(0x63C0 | self.uc_remaining)
        self.uc_remaining = self.uc_limit
        # --- one Java Card transaction
        p.balance += amount
        p.load_ctr = ctr
        if a.p1 == FOOD:
            p.expiry = max(p.expiry, expiry)
        rec = make_rec(TT_UNCONNECTED, a.p1, ctr, amount, p.balance, bytes(6), bytes(4), dt,
                       bytes(2), 0x00)
        tm, tac = tac_of(self.k_tac, self.serial, rec)
        self._append_log(rec, tac, bytes(8))
        # ---
        cm = b"\x42" + self.serial + u8(a.p1) + u16(ctr) + u32(amount)
        confirm = C.mac(sk, cm)
        self.trace.update(rec=rec, tac_input=tm, tac=tac, confirm_input=cm, confirm=confirm,
                          confirm_code=C.code8(confirm))
        return u32(p.balance) + u32(C.code8(confirm)), 0x9000

    # -------------------------------------------------------------- PIN
    def _pin_p1p2(self, a):
        self._need_active()
        if (a.p1, a.p2) != (0x00, 0x80):
            raise SW(0x6A86)

    def _wrong_pin(self):
        self.pin_tries -= 1
        raise SW(0x63C0 | self.pin_tries)

    def _verify_pin(self, a, **_):
        self._pin_p1p2(a)
        if a.lc == 0:
            if self.pin_tries == 0:
                raise SW(0x6983)
            if self.pin_verified:
                return b"", 0x9000
            raise SW(0x63C0 | self.pin_tries)
        if a.lc != 8:
            raise SW(0x6700)
        if self.pin_tries == 0:
            raise SW(0x6983)
        if not valid_pinblock(a.data):
            raise SW(0x6A80)
        self.pin_verified = False      # as OwnerPIN.check: a failed check clears "verified"
        if not C.ct_equal(a.data, self.pin):
            self._wrong_pin()
        self.pin_tries = self.pin_limit
        self.pin_verified = True
        return b"", 0x9000

    def _change_pin(self, a, **_):
        self._pin_p1p2(a)
        if a.lc != 0x10:
            raise SW(0x6700)
        if self.pin_tries == 0:
            raise SW(0x6983)
        old, new = a.data[:8], a.data[8:16]
        if not valid_pinblock(old) or not valid_pinblock(new):
            raise SW(0x6A80)
        self.pin_verified = False
        if not C.ct_equal(old, self.pin):
            self._wrong_pin()
        self.pin = new
        self.pin_tries = self.pin_limit
        self.pin_verified = True
        return b"", 0x9000

    # -------------------------------------------------------------- challenge / perso
    def _get_challenge(self, a, **_):
        if (a.p1, a.p2) != (0, 0):
            raise SW(0x6A86)
        # SPEC 2.13: data is not read (T=0 cannot tell Lc from Le); only Le is checked.
        if a.le not in (0x04, 0x00):
            raise SW(0x6700)
        rnd = self._draw()
        self.challenge = rnd
        return rnd, 0x9000

    def _personalize(self, a, challenge=None, **_):
        if self.lifecycle != BLANK:
            raise SW(0x6985)
        if challenge is None:
            raise SW(0x6985)
        if a.lc != 0x88:
            raise SW(0x6700)
        c, mac_p = a.data[:128], a.data[128:136]
        dm, sk_mac = session_key(self.transport_key, challenge, 0, TT_PERSO_MAC, 0)
        de, sk_enc = session_key(self.transport_key, challenge, 0, TT_PERSO_ENC, 0)
        mi = bytes([a.cla, a.ins, a.p1, a.p2]) + c
        exp = C.mac(sk_mac, mi)
        self.trace.update(sk_perso_mac=sk_mac, sk_perso_enc=sk_enc, mac_p_expected=exp)
        if not C.ct_equal(exp, mac_p):
            raise SW(0x9302)
        plain = C.tdes_cbc_dec(sk_enc, c)
        if plain[124:] != b"\x80\x00\x00\x00":
            raise SW(0x6A80)
        pd = plain[:124]
        serial, kv = pd[0:8], pd[8]
        limits = parse_limits(pd[73:97])
        pin, pin_limit, uc_limit, mcc_count, mccs = pd[97:105], pd[105], pd[106], pd[107], pd[108:124]
        if (serial == bytes(8) or kv in (0x00, 0xFF) or not limits_valid(limits)
                or not valid_pinblock(pin) or not 1 <= pin_limit <= 15 or not 1 <= uc_limit <= 15
                or mcc_count > 8):
            raise SW(0x6A80)
        # --- one Java Card transaction
        self.serial, self.kv = serial, kv
        self.k_load, self.k_purchase, self.k_tac, self.k_admin = pd[9:25], pd[25:41], pd[41:57], pd[57:73]
        self.limits = limits
        self.pin, self.pin_limit, self.pin_tries = pin, pin_limit, pin_limit
        self.uc_limit = self.uc_remaining = uc_limit
        self.mcc_count, self.mccs = mcc_count, mccs
        self.admin_ctr = 0
        self.purses = {ECASH: Purse(), FOOD: Purse()}
        self.log = []
        self.lifecycle = ACTIVE
        return b"", 0x9000

    # -------------------------------------------------------------- issuer commands
    def _admin_prelude(self, a, challenge, lc_ok, p_ok=True):
        """Issuer-command checks, in this order: lifecycle BLANK (6985), challenge (6985), admin
        counter (9402), P1/P2 (6A86), Lc (6700), MAC_A (9302)."""
        self._need_personalised()
        if challenge is None:
            raise SW(0x6985)
        if self.admin_ctr >= 0xFFFF:
            raise SW(0x9402)
        if not p_ok:
            raise SW(0x6A86)
        if a.lc not in lc_ok:
            raise SW(0x6700)
        actr = self.admin_ctr + 1
        d, sk = session_key(self.k_admin, challenge, actr, TT_ADMIN, a.ins)
        body, mac_a = a.data[:-8], a.data[-8:]
        mi = bytes([a.cla, a.ins, a.p1, a.p2]) + body
        exp = C.mac(sk, mi)
        self.trace.update(session_diversifier=d, session_key=sk, mac_a_input=mi, mac_a_expected=exp)
        if not C.ct_equal(exp, mac_a):
            raise SW(0x9302)
        return actr, body

    def _application_block(self, a, challenge=None, **_):
        actr, _ = self._admin_prelude(a, challenge, (8,))
        if self.lifecycle == BLOCKED:
            raise SW(0x6985)
        self.lifecycle = BLOCKED
        self.admin_ctr = actr
        return b"", 0x9000

    def _application_unblock(self, a, challenge=None, **_):
        actr, _ = self._admin_prelude(a, challenge, (8,), p_ok=a.p1 in (0x00, 0x01))
        if a.p1 == 0x00:
            if self.lifecycle != BLOCKED:
                raise SW(0x6985)
            self.lifecycle = ACTIVE
        else:
            self.uc_remaining = self.uc_limit
        self.admin_ctr = actr
        return b"", 0x9000

    def _pin_unblock(self, a, challenge=None, **_):
        actr, body = self._admin_prelude(a, challenge, (0x08,) if a.p2 == 0 else (0x10,),
                                         p_ok=a.p2 in (0x00, 0x01))
        if a.p2 == 0x01:
            de, sk_enc = session_key(self.k_admin, challenge, actr, TT_ADMIN_ENC, a.ins)
            pb = C.tdes_dec(sk_enc, body)
            self.trace.update(enc_session_diversifier=de, enc_session_key=sk_enc, pinblock=pb)
            if not valid_pinblock(pb):
                raise SW(0x6A80)
            self.pin = pb
        self.pin_tries = self.pin_limit
        self.admin_ctr = actr
        return b"", 0x9000

    def _set_limits(self, a, challenge=None, **_):
        actr, body = self._admin_prelude(a, challenge, (0x20,))
        limits = parse_limits(body)
        if not limits_valid(limits):
            raise SW(0x6A80)
        self.limits = limits
        self.admin_ctr = actr
        return b"", 0x9000
