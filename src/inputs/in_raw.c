#include "inputs/in_raw.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture/capture.h"
#include "capture/pcap_live.h"
#include "core/log.h"
#include "http/http_head.h"
#include "inputs/raw_addr.h"
#include "inputs/raw_devices.h"

#define DRAIN_BATCH 1024 /* messages pushed per wake-up before the loop does other work */
#define MAX_DEVICES 64

struct in_raw {
    struct dp_plugin *pl;
    struct raw_addr addr;
    struct capture *cap;
    uv_async_t async;
    bool live;
    bool done;
};

static bool port_ok(void *ctx, uint16_t port)
{
    return raw_addr_has_port(ctx, port);
}

/* A capture file, read by capture/pcap_file (not libpcap: one read() buffer, no stdio copy). */
static int open_file(struct in_raw *r, const struct dp_config *cfg, struct pcap_file **f,
        struct bpf_program **bpf, struct dp_err *err)
{
    int lt;
    int rc = pcap_file_open(r->addr.host, f, err);

    if (rc != 0)
        return rc;
    lt = pcap_file_linktype(*f);
    if (!pkt_linktype_supported(lt)) {
        pcap_file_close(*f);
        *f = NULL;
        return dp_err_set(err, -ENOTSUP, "--input-raw %s: link type %s (%d) is not supported",
                r->pl->addr, pcap_datalink_val_to_name(lt) ? pcap_datalink_val_to_name(lt) : "?",
                lt);
    }
    /* A file is filtered by the decoder (ports, VLANs), so that tagged frames count too;
     * an explicit --input-raw-bpf-filter still applies (pcap_offline_filter per packet). */
    if (cfg->input_raw_bpf_filter != NULL && cfg->input_raw_bpf_filter[0] != '\0') {
        pcap_t *dead = pcap_open_dead(lt, 262144);

        *bpf = calloc(1, sizeof(**bpf));
        if (dead == NULL || *bpf == NULL ||
                pcap_compile(dead, *bpf, cfg->input_raw_bpf_filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            dp_err_set(err, -EINVAL, "--input-raw-bpf-filter \"%s\": %s",
                    cfg->input_raw_bpf_filter, dead != NULL ? pcap_geterr(dead) : "out of memory");
            if (dead != NULL)
                pcap_close(dead);
            free(*bpf);
            *bpf = NULL;
            pcap_file_close(*f);
            *f = NULL;
            return -EINVAL;
        }
        pcap_close(dead);
    }
    return 0;
}

static int open_live(struct in_raw *r, const struct dp_config *cfg, pcap_t **h, size_t cap,
        struct dp_err *err)
{
    struct raw_device dev[MAX_DEVICES];
    char bpf[2048];
    struct pcap_live_opts o = {
        .buffer_size = cfg->input_raw_buffer_size,
        .timeout_ns = cfg->input_raw_buffer_timeout_ns,
        .promisc = cfg->input_raw_promisc,
        .monitor = cfg->input_raw_monitor,
        .tstamp_type = cfg->input_raw_timestamp_type,
        .bpf = bpf,
    };
    const struct raw_bpf_opts bo = {
        .track_response = cfg->input_raw_track_response,
        .promisc = cfg->input_raw_promisc,
        .vlan = cfg->input_raw_vlan || cfg->input_raw_vlan_vid.n > 0,
    };
    int n;

    if (cfg->input_raw_bpf_filter != NULL && cfg->input_raw_bpf_filter[0] != '\0')
        snprintf(bpf, sizeof(bpf), "%s", cfg->input_raw_bpf_filter);
    else if (raw_addr_bpf(&r->addr, &bo, bpf, sizeof(bpf)) < 0)
        return dp_err_set(err, -ENAMETOOLONG, "--input-raw %s: BPF filter too long",
                r->pl->addr);
    n = raw_devices_select(&r->addr, &cfg->input_raw_ignore_interface, dev,
            DP_MIN(cap, DP_ARRAY_LEN(dev)), err);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        int rc;

        o.loopback = dev[i].loopback;
        rc = pcap_live_open(dev[i].name, &o, &h[i], err);
        if (rc == 0 && !pkt_linktype_supported(pcap_datalink(h[i]))) {
            pcap_close(h[i]);
            rc = dp_err_set(err, -ENOTSUP, "--input-raw %s: interface %s: link type %d is not "
                    "supported", r->pl->addr, dev[i].name, pcap_datalink(h[i]));
        }
        if (rc != 0) {
            while (i-- > 0)
                pcap_close(h[i]);
            return rc;
        }
        dp_log(DP_LOG_INFO, DP_LOG_INPUT, "plugin=%s event=capture device=%s bpf=\"%s\"",
                r->pl->label, dev[i].name, bpf);
    }
    return n;
}

/*
 * The vxlan engine's socket: UDP on every address (IPv4 and IPv6) at --input-raw-vxlan-port,
 * as GoReplay (traffic mirroring sends from the network). Kernel receive timestamps and drop
 * counts are asked for; the receive buffer is --input-raw-buffer-size or 64 MiB.
 */
static int open_vxlan(struct in_raw *r, const struct dp_config *cfg, int *fd_out,
        struct dp_err *err)
{
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
    int one = 1;
    int zero = 0;
    int rcvbuf = cfg->input_raw_buffer_size > 0 ?
            (int)DP_MIN(cfg->input_raw_buffer_size, (int64_t)INT32_MAX) : 64 << 20;
    int fd;

    if (cfg->input_raw_vxlan_port < 1 || cfg->input_raw_vxlan_port > 65535)
        return dp_err_set(err, -EINVAL, "--input-raw-vxlan-port %lld: must be 1 to 65535",
                (long long)cfg->input_raw_vxlan_port);
    sa.sin6_port = htons((uint16_t)cfg->input_raw_vxlan_port);
    fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dp_err_set(err, -errno, "--input-raw %s: vxlan socket: %s", r->pl->addr,
                strerror(errno));
    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    (void)setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    (void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
    /* FORCE passes net.core.rmem_max as root; otherwise the kernel caps it there */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;

        close(fd);
        return dp_err_set(err, -e, "--input-raw-engine vxlan: cannot listen on UDP port %lld: "
                "%s", (long long)cfg->input_raw_vxlan_port, strerror(e));
    }
    dp_log(DP_LOG_INFO, DP_LOG_INPUT, "plugin=%s event=listen engine=vxlan udp_port=%lld",
            r->pl->label, (long long)cfg->input_raw_vxlan_port);
    *fd_out = fd;
    return 0;
}

static int raw_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    const char *engine = cfg->input_raw_engine != NULL ? cfg->input_raw_engine : "libpcap";
    const char *proto = cfg->input_raw_protocol != NULL ? cfg->input_raw_protocol : "http";
    pcap_t *h[CAPTURE_MAX_HANDLES];
    struct in_raw *r;
    bool file_engine = strcmp(engine, "pcap_file") == 0;
    bool vxlan_engine = strcmp(engine, "vxlan") == 0;
    int udp_fd = -1;
    struct pcap_file *file = NULL;
    struct bpf_program *bpf = NULL;
    struct capture_opts co;
    int n;
    int rc;

    if (!file_engine && !vxlan_engine && strcmp(engine, "libpcap") != 0 &&
            strcmp(engine, "raw_socket") != 0 && strcmp(engine, "af_packet") != 0)
        return dp_err_set(err, -EINVAL, "--input-raw-engine %s: unknown engine (libpcap, "
                "raw_socket, af_packet, pcap_file, vxlan)", engine);
    if (strcmp(proto, "http") != 0 && strcmp(proto, "binary") != 0)
        return dp_err_set(err, -EINVAL, "--input-raw-protocol %s: unknown (http or binary)",
                proto);
    if (cfg->input_raw_max_conns < 1 || cfg->input_raw_max_conns > 100000000)
        return dp_err_set(err, -EINVAL, "--input-raw-max-conns %lld: must be 1 to 100000000",
                (long long)cfg->input_raw_max_conns);
    if (cfg->input_raw_memcap < 1024 * 1024)
        return dp_err_set(err, -EINVAL, "--input-raw-memcap %lld: must be at least 1mb",
                (long long)cfg->input_raw_memcap);
    if (cfg->input_raw_realip_header != NULL && cfg->input_raw_realip_header[0] != '\0' &&
            !http_is_token(cfg->input_raw_realip_header, strlen(cfg->input_raw_realip_header)))
        return dp_err_set(err, -EINVAL, "--input-raw-realip-header \"%s\": not a header name "
                "(letters, digits and !#$%%&'*+-.^_`|~ only)", cfg->input_raw_realip_header);
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    r->pl = pl;
    pl->ctx = r;
    rc = raw_addr_parse(pl->addr, file_engine, &r->addr, err);
    if (rc != 0)
        return rc;
    r->live = r->addr.kind != RAW_ADDR_FILE;
    if (vxlan_engine && !r->live)
        return dp_err_set(err, -EINVAL, "--input-raw %s: the vxlan engine listens on UDP; it "
                "reads no file (a capture file's VXLAN traffic is decoded by pcap_file)",
                pl->addr);
    if (vxlan_engine)
        n = open_vxlan(r, cfg, &udp_fd, err);
    else if (!r->live)
        n = open_file(r, cfg, &file, &bpf, err);
    else
        n = open_live(r, cfg, h, DP_ARRAY_LEN(h), err);
    if (n < 0)
        return n;
    memset(&co, 0, sizeof(co));
    co.flow.binary = strcmp(proto, "binary") == 0;
    co.flow.track_response = cfg->input_raw_track_response;
    co.flow.allow_incomplete = cfg->input_raw_allow_incomplete;
    co.flow.max_msg = (size_t)cfg->copy_buffer_size;
    if (cfg->input_raw_realip_header != NULL && cfg->input_raw_realip_header[0] != '\0') {
        co.flow.realip_header = cfg->input_raw_realip_header;
        co.flow.realip_header_len = strlen(cfg->input_raw_realip_header);
    }
    co.flow.max_flows = (size_t)cfg->input_raw_max_conns;
    co.flow.max_ooo = (size_t)cfg->input_raw_max_ooo;
    co.flow.memcap = (size_t)cfg->input_raw_memcap;
    co.flow.expire_ns = cfg->input_raw_expire_ns > 0 ? cfg->input_raw_expire_ns : 1000000000;
    co.flow.is_server_port = r->addr.n_ports > 0 ? port_ok : NULL;
    co.flow.port_ctx = &r->addr;
    co.live = r->live;
    co.ring_cap = 8192;
    co.label = pl->label;
    co.port_ok = r->addr.n_ports > 0 ? port_ok : NULL;
    co.port_ctx = &r->addr;
    co.vxlan_port = (uint16_t)cfg->input_raw_vxlan_port;
    co.vlan_only = cfg->input_raw_vlan;
    co.vids = cfg->input_raw_vlan_vid.v;
    co.n_vids = cfg->input_raw_vlan_vid.n;
    co.vnis = cfg->input_raw_vxlan_vni.v;
    co.n_vnis = cfg->input_raw_vxlan_vni.n;
    co.udp_fd = udp_fd;
    co.file = file;
    co.file_bpf = bpf;
    rc = capture_new(&co, h, (size_t)n, &r->cap, err);
    if (rc != 0) { /* capture_new took nothing: close the handles here */
        for (int i = 0; i < n; i++)
            pcap_close(h[i]);
        if (udp_fd >= 0)
            close(udp_fd);
        pcap_file_close(file);
        if (bpf != NULL) {
            pcap_freecode(bpf);
            free(bpf);
        }
        return rc;
    }
    return 0;
}

/*
 * Pushes up to <max> messages from the ring; returns how many. A capture file pauses when the
 * outputs are full (its thread then waits on the full ring: nothing is lost); a live capture
 * pushes on and the pipeline counts what the outputs cannot take.
 */
static size_t raw_drain(struct in_raw *r, size_t max)
{
    struct dp_msg *m;
    size_t n = 0;

    for (; n < max; n++) {
        if (!r->live && !r->pl->closing && !dp_pipeline_writable(r->pl)) {
            r->pl->paused = true; /* dp_output_writable_again() resumes us */
            break;
        }
        if (capture_drain(r->cap, &m, 1) == 0)
            break;
        dp_pipeline_push(r->pl, m);
    }
    return n;
}

static void wake_loop(void *ctx)
{
    uv_async_send(ctx);
}

static void on_async(uv_async_t *a)
{
    struct in_raw *r = a->data;

    size_t n;

    if (r->pl->closing)
        return;
    n = raw_drain(r, DRAIN_BATCH);
    if (capture_finished(r->cap)) {
        if (!r->done) {
            r->done = true;
            dp_input_done(r->pl);
        }
    } else if (!r->pl->paused && (n == DRAIN_BATCH || capture_wait(r->cap))) {
        /* more is waiting: continue after other work. Otherwise the ring is empty and the
         * capture thread wakes us when it pushes again. */
        uv_async_send(a);
    }
}

static int raw_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    struct in_raw *r = pl->ctx;
    int rc = uv_async_init(loop, &r->async, on_async);

    if (rc != 0)
        return dp_err_set(err, rc, "%s: %s", pl->label, uv_strerror(rc));
    r->async.data = r;
    return capture_start(r->cap, wake_loop, &r->async, err);
}

static void raw_resume(struct dp_plugin *pl)
{
    struct in_raw *r = pl->ctx;

    uv_async_send(&r->async);
}

static void on_closed(uv_handle_t *h)
{
    struct in_raw *r = h->data;

    dp_plugin_closed(r->pl);
}

static void raw_close(struct dp_plugin *pl)
{
    struct in_raw *r = pl->ctx;

    /* The thread finishes its flows (whole messages are emitted); they all go on. */
    capture_stop(r->cap);
    raw_drain(r, SIZE_MAX);
    uv_close((uv_handle_t *)&r->async, on_closed);
}

static void raw_stats(struct dp_plugin *pl, struct dp_statbuf *sb)
{
    struct in_raw *r = pl->ctx;
    struct capture_stats s;

    if (r->cap == NULL)
        return;
    capture_stats(r->cap, &s);
    for (int i = 0; i < CAP_CTR_COUNT; i++)
        dp_statbuf_add(sb, " %s=%llu", capture_ctr_names[i], (unsigned long long)s.cap[i]);
    dp_statbuf_add(sb, " conns=%llu", (unsigned long long)s.conns);
    for (int i = 0; i < FLOW_CTR_COUNT; i++)
        dp_statbuf_add(sb, " %s=%llu", flow_ctr_names[i], (unsigned long long)s.flow[i]);
}

static void raw_free(struct dp_plugin *pl)
{
    struct in_raw *r = pl->ctx;

    if (r == NULL)
        return;
    capture_free(r->cap);
    free(r);
    pl->ctx = NULL;
}

const struct dp_input_ops in_raw_ops = {
    .name = "input-raw",
    .open = raw_open,
    .start = raw_start,
    .resume = raw_resume,
    .close = raw_close,
    .stats = raw_stats,
    .free = raw_free,
};
