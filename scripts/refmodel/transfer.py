"""Reference model of the transfer applet (SPEC.md section 3), written from the SPEC text."""
from . import crypto as C
from .apdu import SW, parse
from .codec import u8, u16, be
from .purse import DEFAULT_TRANSPORT_KEY, VERSION, session_key, TT_PERSO_MAC, TT_PERSO_ENC

TRANSFER_AID = bytes.fromhex("F045505552534502")
CAPACITY = 8192          # SPEC: "at least 8 192"; the vectors fix it to exactly 8192 (0x2000)
MAX_CHUNK = 240
HEADER_LEN = 50
RECORD_LEN = 48
SEAL_LEN = 8

BLANK, ACTIVE = 0x01, 0x02
EMPTY, WRITING, SEALED, ACKED = 0x00, 0x01, 0x02, 0x03

COMMANDS = {
    (0x00, 0xA4): "select",
    (0x80, 0x5E): "get_status",
    (0x00, 0x84): "get_challenge",
    (0x84, 0x60): "personalize",
    (0x80, 0x82): "write_batch",
    (0x80, 0x84): "finish_batch",
    (0x80, 0x86): "read_batch",
    (0x80, 0x88): "clear_batch",
    (0x80, 0x8A): "read_ack",
}
KNOWN_INS = {ins for (_, ins) in COMMANDS}


class TransferCard:
    def __init__(self, rng, install_param: bytes | None = None):
        self.rng = rng
        self.transport_key = install_param if install_param else DEFAULT_TRANSPORT_KEY
        self.lifecycle = BLANK
        self.xserial = bytes(8)
        self.kv = 0
        self.k_xfer = bytes(16)
        self.batch_state = EMPTY
        self.buf = bytearray(CAPACITY)
        self.length = 0
        self.ack = None
        self.challenge = None
        self.trace = {}

    def process(self, raw: bytes) -> bytes:
        self.trace = {}
        a = parse(raw)
        challenge, self.challenge = self.challenge, None
        try:
            if a.ins not in KNOWN_INS:
                raise SW(0x6D00)
            name = COMMANDS.get((a.cla, a.ins))
            if name is None:
                raise SW(0x6E00)
            data, sw = getattr(self, "_" + name)(a, challenge)
        except SW as e:
            data, sw = b"", e.sw
        return data + u16(sw)

    def fci(self) -> bytes:
        a5 = (b"\xC1\x08" + self.xserial + b"\xC2\x02" + VERSION + b"\xC3\x01" + u8(self.lifecycle)
              + b"\xC6\x01" + u8(self.batch_state) + b"\xC7\x02" + u16(CAPACITY))
        inner = b"\x84\x08" + TRANSFER_AID + b"\xA5" + u8(len(a5)) + a5
        return b"\x6F" + u8(len(inner)) + inner

    def _select(self, a, challenge):
        if a.p1 != 0x04 or a.data != TRANSFER_AID:
            raise SW(0x6A82)
        return self.fci(), 0x9000

    def _get_status(self, a, challenge):
        return (u8(self.lifecycle) + u8(self.batch_state) + u16(CAPACITY) + u16(self.length)
                + self.xserial), 0x9000

    def _get_challenge(self, a, challenge):
        if (a.p1, a.p2) != (0, 0):
            raise SW(0x6A86)
        if a.lc != 0 or a.le not in (0x04, 0x00):
            raise SW(0x6700)
        r = self.rng()
        self.trace["card_random"] = r
        self.challenge = r
        return r, 0x9000

    def _personalize(self, a, challenge):
        if self.lifecycle != BLANK or challenge is None:
            raise SW(0x6985)
        if a.lc != 0x28:
            raise SW(0x6700)
        c, mac_p = a.data[:32], a.data[32:40]
        _, sk_mac = session_key(self.transport_key, challenge, 0, TT_PERSO_MAC, 0)
        _, sk_enc = session_key(self.transport_key, challenge, 0, TT_PERSO_ENC, 0)
        exp = C.mac(sk_mac, bytes([a.cla, a.ins, a.p1, a.p2]) + c)
        if not C.ct_equal(exp, mac_p):
            raise SW(0x9302)
        plain = C.tdes_cbc_dec(sk_enc, c)
        if plain[25:] != b"\x80" + bytes(6):
            raise SW(0x6A80)
        xserial, kv, k = plain[0:8], plain[8], plain[9:25]
        if xserial == bytes(8) or kv in (0x00, 0xFF):
            raise SW(0x6A80)
        self.xserial, self.kv, self.k_xfer = xserial, kv, k
        self.lifecycle = ACTIVE
        return b"", 0x9000

    def _write_batch(self, a, challenge):
        if self.lifecycle == BLANK or self.batch_state == SEALED:
            raise SW(0x6985)
        if not 1 <= a.lc <= MAX_CHUNK:
            raise SW(0x6700)
        off = a.p1p2
        if off == 0:
            self.batch_state, self.length, self.ack = WRITING, 0, None
        elif self.batch_state != WRITING or off > self.length:
            raise SW(0x6A86)
        if off + a.lc > CAPACITY:
            raise SW(0x6A84)
        self.buf[off:off + a.lc] = a.data
        self.length = max(self.length, off + a.lc)
        return b"", 0x9000

    def _finish_batch(self, a, challenge):
        if self.batch_state != WRITING:
            raise SW(0x6985)
        if a.lc != 2:
            raise SW(0x6700)
        n_len = be(a.data)
        if n_len != self.length or self.length < HEADER_LEN or self.buf[0] != 0x01:
            raise SW(0x6A80)
        n = be(self.buf[18:22]) + be(self.buf[30:34])
        if n_len != HEADER_LEN + RECORD_LEN * n + SEAL_LEN:
            raise SW(0x6A80)
        self.batch_state = SEALED
        return b"", 0x9000

    def _read_batch(self, a, challenge):
        if self.batch_state != SEALED:
            raise SW(0x6985)
        off = a.p1p2
        if off >= self.length:
            raise SW(0x6A86)
        ne = MAX_CHUNK if a.le in (None, 0) else a.le
        n = min(ne, MAX_CHUNK, self.length - off)
        return bytes(self.buf[off:off + n]), 0x9000

    def _clear_batch(self, a, challenge):
        if self.batch_state != SEALED:
            raise SW(0x6985)
        if a.lc != 0x32:
            raise SW(0x6700)
        ackdata, ack_sam, ack_card = a.data[0:34], a.data[34:42], a.data[42:50]
        if ackdata[0:6] != bytes(self.buf[1:7]) or ackdata[6:10] != bytes(self.buf[7:11]):
            raise SW(0x6A80)
        seal = bytes(self.buf[self.length - 8:self.length])
        m = b"\x52" + self.xserial + ackdata + seal
        exp = C.mac(self.k_xfer, m)
        self.trace.update(ack_card_input=m, ack_card_expected=exp)
        if not C.ct_equal(exp, ack_card):
            raise SW(0x9302)
        self.batch_state, self.length, self.ack = ACKED, 0, ackdata + ack_sam
        self.buf = bytearray(CAPACITY)
        return b"", 0x9000

    def _read_ack(self, a, challenge):
        if self.batch_state != ACKED:
            raise SW(0x6A88)
        return self.ack, 0x9000
