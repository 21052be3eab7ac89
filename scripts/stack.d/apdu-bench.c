/*
 * apdu-bench: round-trip time of one APDU through pcscd (and, on the test stack, vpcd and the
 * virtual card). Built by `scripts/stack bench`; plain PC/SC, nothing project-specific.
 *
 *   apdu-bench [-n COUNT] [-r READER] [HEXAPDU]     (default: SELECT of the purse applet)
 *
 * Prints the count, the mean, median, 99th percentile and maximum in microseconds, and the last
 * status word.
 */
#include <PCSC/winscard.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static int fail(const char *what, LONG rv)
{
    fprintf(stderr, "apdu-bench: %s: %s (0x%08lX)\n", what, pcsc_stringify_error(rv), (unsigned long) rv);
    return 1;
}

int main(int argc, char **argv)
{
    long count = 1000;
    const char *reader = "Virtual PCD 00 00";
    const char *hex = "00A4040008F04550555253450100";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) count = atol(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reader = argv[++i];
        else hex = argv[i];
    }
    unsigned char apdu[261];
    size_t len = strlen(hex) / 2;
    if (count < 1 || strlen(hex) % 2 || len < 4 || len > sizeof apdu) {
        fprintf(stderr, "usage: apdu-bench [-n COUNT] [-r READER] [HEXAPDU]\n");
        return 2;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned int b;
        if (sscanf(hex + 2 * i, "%2x", &b) != 1) { fprintf(stderr, "apdu-bench: bad hex\n"); return 2; }
        apdu[i] = (unsigned char) b;
    }

    SCARDCONTEXT ctx;
    SCARDHANDLE card;
    DWORD proto;
    LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
    if (rv != SCARD_S_SUCCESS) return fail("SCardEstablishContext", rv);
    rv = SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &proto);
    if (rv != SCARD_S_SUCCESS) return fail(reader, rv);
    const SCARD_IO_REQUEST *pci = proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;

    double *t = malloc(sizeof *t * count);
    unsigned char resp[258];
    DWORD rlen = 0;
    double start = now_us();
    for (long i = 0; i < count; i++) {
        rlen = sizeof resp;
        double t0 = now_us();
        rv = SCardTransmit(card, pci, apdu, len, NULL, resp, &rlen);
        t[i] = now_us() - t0;
        if (rv != SCARD_S_SUCCESS) return fail("SCardTransmit", rv);
    }
    double total = now_us() - start;
    qsort(t, count, sizeof *t, cmp);
    printf("%ld APDUs on \"%s\" (T=%d): mean %.1f us, median %.1f us, p99 %.1f us, max %.1f us; total %.1f ms; last SW %02X%02X\n",
           count, reader, proto == SCARD_PROTOCOL_T1 ? 1 : 0, total / count, t[count / 2],
           t[(long) (count * 0.99) < count ? (long) (count * 0.99) : count - 1], t[count - 1], total / 1000,
           rlen >= 2 ? resp[rlen - 2] : 0, rlen >= 2 ? resp[rlen - 1] : 0);
    SCardDisconnect(card, SCARD_LEAVE_CARD);
    SCardReleaseContext(ctx);
    free(t);
    return 0;
}
