#include "capture/pcap_live.h"

#include <errno.h>

int pcap_live_open(const char *dev, const struct pcap_live_opts *o, pcap_t **out,
        struct dp_err *err)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct bpf_program prog;
    pcap_t *p;
    int rc;

    *out = NULL;
    p = pcap_create(dev, ebuf);
    if (p == NULL)
        return dp_err_set(err, -ENODEV, "--input-raw: %s: %s", dev, ebuf);
    pcap_set_snaplen(p, PCAP_LIVE_SNAPLEN);
    pcap_set_promisc(p, o->promisc);
    if (o->monitor)
        pcap_set_rfmon(p, 1);
    pcap_set_buffer_size(p, (int)(o->buffer_size > 0 && o->buffer_size < INT32_MAX
                    ? o->buffer_size
                    : PCAP_LIVE_BUFFER_SIZE));
    /*
     * Not immediate mode: on Linux (TPACKET_V3) it retires a ring block per wake-up, and with a
     * 262144-byte snaplen a block is 512 KiB, so a 64 MiB ring held only ~128 wake-ups of lag
     * and the kernel dropped packets at a few thousand per second when the thread lagged. A
     * short block timeout packs many packets per block at the cost of that much latency.
     */
    pcap_set_timeout(p, (int)(o->timeout_ns > 0 ? DP_MAX(o->timeout_ns / 1000000, 1)
                                                 : PCAP_LIVE_TIMEOUT_MS));
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
    if (o->tstamp_type != NULL && o->tstamp_type[0] != '\0') {
        int t = pcap_tstamp_type_name_to_val(o->tstamp_type);

        if (t < 0 || pcap_set_tstamp_type(p, t) < 0) {
            pcap_close(p);
            return dp_err_set(err, -EINVAL,
                    "--input-raw-timestamp-type %s: not a timestamp type of %s", o->tstamp_type,
                    dev);
        }
    }
    rc = pcap_activate(p);
    if (rc < 0) {
        dp_err_set(err, rc == PCAP_ERROR_PERM_DENIED ? -EPERM : -EIO,
                "--input-raw: cannot capture on %s: %s%s", dev, pcap_geterr(p),
                rc == PCAP_ERROR_PERM_DENIED ? " (run as root or give doppel CAP_NET_RAW)" : "");
        pcap_close(p);
        return err != NULL ? err->code : -EIO;
    }
    if (o->loopback)
        pcap_setdirection(p, PCAP_D_IN);
    if (o->bpf != NULL && o->bpf[0] != '\0') {
        if (pcap_compile(p, &prog, o->bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            dp_err_set(err, -EINVAL, "--input-raw-bpf-filter: cannot compile \"%s\" on %s: %s",
                    o->bpf, dev, pcap_geterr(p));
            pcap_close(p);
            return -EINVAL;
        }
        rc = pcap_setfilter(p, &prog);
        pcap_freecode(&prog);
        if (rc != 0) {
            dp_err_set(err, -EINVAL, "--input-raw: cannot set the filter on %s: %s", dev,
                    pcap_geterr(p));
            pcap_close(p);
            return -EINVAL;
        }
    }
    if (pcap_setnonblock(p, 1, ebuf) != 0) {
        dp_err_set(err, -EIO, "--input-raw: %s: %s", dev, ebuf);
        pcap_close(p);
        return -EIO;
    }
    *out = p;
    return 0;
}
