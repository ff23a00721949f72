#include "capture/capture.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/ring.h"

const char *const capture_ctr_names[CAP_CTR_COUNT] = {
    [CAP_PACKETS] = "packets",
    [CAP_KERNEL_DROPS] = "kernel_drops",
    [CAP_TCP] = "pkts_tcp",
    [CAP_NOT_TCP] = "pkts_not_tcp",
    [CAP_FRAGMENTS] = "pkts_fragments",
    [CAP_MALFORMED] = "pkts_malformed",
    [CAP_FILTERED] = "pkts_filtered",
    [CAP_RING_DROPS] = "ring_drops",
};

#define POLL_MS        100  /* a live capture looks at the clock this often when idle */
#define SNAPSHOT_EVERY 4096 /* packets between counter snapshots */
#define UDP_BATCH      16   /* datagrams per recvmmsg */
#define FILE_WAKE_BATCH 256 /* a capture file wakes the loop for this many messages at once */
#define UDP_MAX        65536 /* the largest UDP payload, so that nothing is cut */

struct capture {
    struct capture_opts o;
    pcap_t *h[CAPTURE_MAX_HANDLES];
    struct pkt_decoder dec[CAPTURE_MAX_HANDLES];
    size_t n;
    int udp_fd;
    struct pcap_file *file;       /* a capture file (our reader), or NULL */
    struct bpf_program *file_bpf; /* --input-raw-bpf-filter on a file, or NULL */
    uint32_t udp_drops; /* SO_RXQ_OVFL: datagrams the kernel dropped, since the socket opened */
    struct flow_table *flows;
    struct dp_ring ring;
    pthread_t thread;
    bool thread_started;
    _Atomic bool stop;
    _Atomic bool ended;
    capture_wake_fn *wake;
    void *wake_ctx;
    bool woke; /* the loop must be woken */
    _Atomic bool loop_waiting; /* the loop found the ring empty and waits for a wake-up */
    uint64_t ctr[CAP_CTR_COUNT];
    pthread_mutex_t lock; /* guards snap */
    struct capture_stats snap;
};

/* ---- the thread ---- */

static void snapshot(struct capture *c)
{
    struct capture_stats s;

    memset(&s, 0, sizeof(s));
    if (c->o.live) {
        uint64_t drops = 0;

        for (size_t i = 0; i < c->n; i++) {
            struct pcap_stat ps;

            if (pcap_stats(c->h[i], &ps) == 0)
                drops += (uint64_t)ps.ps_drop + ps.ps_ifdrop;
        }
        c->ctr[CAP_KERNEL_DROPS] = drops + c->udp_drops;
    }
    memcpy(s.cap, c->ctr, sizeof(s.cap));
    memcpy(s.flow, flow_table_ctr(c->flows), sizeof(s.flow));
    s.conns = flow_table_len(c->flows);
    pthread_mutex_lock(&c->lock);
    c->snap = s;
    pthread_mutex_unlock(&c->lock);
}

static void wake(struct capture *c)
{
    if (c->woke) {
        c->woke = false;
        c->wake(c->wake_ctx);
    }
}

static void on_msg(void *ctx, struct dp_msg *m)
{
    struct capture *c = ctx;

    while (!dp_ring_push(&c->ring, m)) {
        if (c->o.live || atomic_load_explicit(&c->stop, memory_order_relaxed)) {
            c->ctr[CAP_RING_DROPS]++;
            dp_msg_unref(m);
            return;
        }
        /* A file waits for the loop: wake it and give it time. */
        c->woke = true;
        wake(c);
        nanosleep(&(struct timespec){ 0, 200000 }, NULL);
    }
    /* Wake the loop only when it waits, and then at once: while it drains, it finds this
     * message itself (one wake-up per message cost more than the rest of the work on a capture
     * file), but a waiting loop must not wait for the end of a long pcap_dispatch() (a live
     * ring full of blocks): the SPSC ring would fill and drop meanwhile. */
    if (!c->o.live && dp_ring_len(&c->ring) < FILE_WAKE_BATCH)
        return; /* a file has no deadline: wake the loop for a batch (or at the end) */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_exchange_explicit(&c->loop_waiting, false, memory_order_seq_cst)) {
        c->woke = true;
        wake(c);
    }
}

/* Counts a decode result and gives a TCP segment to the flow table. */
static void on_decoded(struct capture *c, enum pkt_rc rc, int64_t ts, const struct pkt *p)
{
    switch (rc) {
    case PKT_TCP:
        if (c->o.port_ok != NULL && !c->o.port_ok(c->o.port_ctx, p->dport) &&
                !c->o.port_ok(c->o.port_ctx, p->sport)) {
            c->ctr[CAP_FILTERED]++;
            break;
        }
        c->ctr[CAP_TCP]++;
        flow_table_packet(c->flows, ts, p);
        break;
    case PKT_NOT_TCP:
        c->ctr[CAP_NOT_TCP]++;
        break;
    case PKT_FRAGMENT:
        c->ctr[CAP_FRAGMENTS]++;
        break;
    case PKT_MALFORMED:
        c->ctr[CAP_MALFORMED]++;
        break;
    case PKT_FILTERED:
    case PKT_RC_COUNT:
        c->ctr[CAP_FILTERED]++;
        break;
    }
    flow_table_advance(c->flows, ts);
    if (c->ctr[CAP_PACKETS] % SNAPSHOT_EVERY == 0)
        snapshot(c);
}

static void on_packet(struct capture *c, size_t hi, const struct pcap_pkthdr *ph,
        const uint8_t *data)
{
    struct pkt p;
    /* pcap handles are opened with nanosecond precision: tv_usec holds nanoseconds. */
    int64_t ts = (int64_t)ph->ts.tv_sec * 1000000000 + (int64_t)ph->ts.tv_usec;

    c->ctr[CAP_PACKETS]++;
    on_decoded(c, pkt_decode(&c->dec[hi], data, ph->caplen, ph->len, &p), ts, &p);
}

static void run_file(struct capture *c)
{
    struct pcap_rec rec;
    int rc = 1;

    while (!atomic_load_explicit(&c->stop, memory_order_relaxed) &&
            (rc = pcap_file_next(c->file, &rec)) == 1) {
        struct pcap_pkthdr ph = { .caplen = rec.caplen, .len = rec.wirelen };
        struct pkt p;

        c->ctr[CAP_PACKETS]++;
        if (c->file_bpf != NULL && pcap_offline_filter(c->file_bpf, &ph, rec.data) == 0) {
            c->ctr[CAP_FILTERED]++;
            continue;
        }
        c->dec[0].linktype = rec.linktype; /* pcapng: interfaces may differ */
        on_decoded(c, pkt_decode(&c->dec[0], rec.data, rec.caplen, rec.wirelen, &p), rec.ts_ns,
                &p);
        wake(c);
    }
    if (!atomic_load_explicit(&c->stop, memory_order_relaxed) && rc < 0)
        dp_log(DP_LOG_WARN, DP_LOG_INPUT,
                "plugin=%s event=file-error error=\"%s\": the rest of the file is not read",
                c->o.label, pcap_file_error(c->file));
}

static void on_live(u_char *user, const struct pcap_pkthdr *ph, const u_char *data)
{
    struct capture *c = (struct capture *)(void *)user;

    on_packet(c, c->n, ph, data); /* c->n is borrowed as the index while dispatching */
}

static void run_live(struct capture *c)
{
    struct pollfd pfd[CAPTURE_MAX_HANDLES];
    size_t n = c->n;

    for (size_t i = 0; i < n; i++) {
        pfd[i].fd = pcap_get_selectable_fd(c->h[i]);
        pfd[i].events = POLLIN;
    }
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        int rc = poll(pfd, (nfds_t)n, POLL_MS);

        if (rc < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < n && rc > 0; i++) {
            if ((pfd[i].revents & (POLLIN | POLLERR)) == 0)
                continue;
            c->n = i;
            if (pcap_dispatch(c->h[i], -1, on_live, (u_char *)(void *)c) == PCAP_ERROR)
                dp_log(DP_LOG_WARN, DP_LOG_INPUT, "plugin=%s event=capture-error error=\"%s\"",
                        c->o.label, pcap_geterr(c->h[i]));
            c->n = n;
        }
        flow_table_advance(c->flows, dp_wall_ns());
        if (rc == 0)
            snapshot(c);
        wake(c);
    }
}

/* The receive time of a datagram (SO_TIMESTAMPNS), or now; and the kernel's drop count. */
static int64_t udp_meta(struct capture *c, struct msghdr *mh)
{
    int64_t ts = 0;

    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET)
            continue;
        if (cm->cmsg_type == SO_TIMESTAMPNS && cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
            struct timespec t;

            memcpy(&t, CMSG_DATA(cm), sizeof(t));
            ts = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
        } else if (cm->cmsg_type == SO_RXQ_OVFL && cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
            memcpy(&c->udp_drops, CMSG_DATA(cm), sizeof(c->udp_drops));
        }
    }
    return ts != 0 ? ts : dp_wall_ns();
}

static void run_vxlan(struct capture *c)
{
    uint8_t *buf = malloc((size_t)UDP_BATCH * UDP_MAX);
    struct mmsghdr mm[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    /* room for a timestamp and a drop counter per datagram (cmsg data is size_t-aligned) */
    _Alignas(size_t) char ctl[UDP_BATCH][CMSG_SPACE(sizeof(struct timespec)) +
                                         CMSG_SPACE(sizeof(uint32_t))];
    struct pollfd pfd = { .fd = c->udp_fd, .events = POLLIN };

    if (buf == NULL) {
        dp_log(DP_LOG_ERROR, DP_LOG_INPUT, "plugin=%s event=capture-error error=\"out of memory\"",
                c->o.label);
        return;
    }
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        int rc = poll(&pfd, 1, POLL_MS);
        int n;

        if (rc < 0 && errno != EINTR)
            break;
        if (rc <= 0) {
            flow_table_advance(c->flows, dp_wall_ns());
            snapshot(c);
            wake(c);
            continue;
        }
        memset(mm, 0, sizeof(mm));
        for (int i = 0; i < UDP_BATCH; i++) {
            iov[i].iov_base = buf + (size_t)i * UDP_MAX;
            iov[i].iov_len = UDP_MAX;
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
            mm[i].msg_hdr.msg_control = ctl[i];
            mm[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
        }
        n = recvmmsg(c->udp_fd, mm, UDP_BATCH, MSG_DONTWAIT, NULL);
        for (int i = 0; i < n; i++) {
            struct pkt p;
            int64_t ts = udp_meta(c, &mm[i].msg_hdr);

            c->ctr[CAP_PACKETS]++;
            on_decoded(c, pkt_decode_vxlan(&c->dec[0], iov[i].iov_base, mm[i].msg_len, &p), ts,
                    &p);
        }
        flow_table_advance(c->flows, dp_wall_ns());
        wake(c);
    }
    free(buf);
}

static void *capture_main(void *arg)
{
    struct capture *c = arg;

    if (c->file != NULL)
        run_file(c);
    else if (c->udp_fd >= 0)
        run_vxlan(c);
    else
        run_live(c);
    flow_table_finish(c->flows);
    snapshot(c);
    atomic_store_explicit(&c->ended, true, memory_order_release);
    c->woke = true;
    wake(c);
    dp_msg_cache_drain();
    return NULL;
}

/* ---- the loop side ---- */

int capture_new(const struct capture_opts *o, pcap_t **handles, size_t n_handles,
        struct capture **out, struct dp_err *err)
{
    struct capture *c;
    int rc;

    *out = NULL;
    if ((n_handles == 0) != (o->udp_fd >= 0 || o->file != NULL) ||
            n_handles > CAPTURE_MAX_HANDLES)
        return dp_err_set(err, -EINVAL, "%s: %zu capture handles (1 to %d, or a UDP socket, or "
                "a file)", o->label, n_handles, CAPTURE_MAX_HANDLES);
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    c->o = *o;
    c->udp_fd = o->udp_fd;
    c->file = o->file;
    c->file_bpf = o->file_bpf;
    for (size_t i = 0; i < DP_MAX(n_handles, (size_t)1); i++) {
        struct pkt_decoder *d = &c->dec[i];

        if (i < n_handles)
            c->h[i] = handles[i];
        pkt_decoder_init(d, i < n_handles ? pcap_datalink(handles[i]) :
                                 o->file != NULL ? pcap_file_linktype(o->file) : DLT_EN10MB);
        d->vxlan_port = o->vxlan_port;
        d->vlan_only = o->vlan_only;
        for (size_t k = 0; k < o->n_vids && d->nvids < PKT_MAX_VIDS; k++)
            d->vids[d->nvids++] = (uint16_t)o->vids[k];
        for (size_t k = 0; k < o->n_vnis && d->nvnis < PKT_MAX_VNIS; k++) {
            d->vni_deny = o->vnis[k] < 0;
            d->vnis[d->nvnis++] = (uint32_t)(o->vnis[k] < 0 ? -o->vnis[k] : o->vnis[k]);
        }
    }
    c->n = n_handles;
    atomic_init(&c->loop_waiting, true);
    pthread_mutex_init(&c->lock, NULL);
    rc = dp_ring_init(&c->ring, o->ring_cap > 0 ? o->ring_cap : 4096);
    if (rc == 0)
        rc = flow_table_new(&o->flow, on_msg, c, &c->flows);
    if (rc != 0) {
        c->n = 0; /* on failure the caller keeps its handles, socket and file */
        c->udp_fd = -1;
        c->file = NULL;
        c->file_bpf = NULL;
        capture_free(c);
        return dp_err_set(err, rc, "out of memory");
    }
    *out = c;
    return 0;
}

int capture_start(struct capture *c, capture_wake_fn *wake_fn, void *wake_ctx, struct dp_err *err)
{
    int rc;

    c->wake = wake_fn;
    c->wake_ctx = wake_ctx;
    rc = pthread_create(&c->thread, NULL, capture_main, c);
    if (rc != 0)
        return dp_err_set(err, -rc, "%s: cannot start the capture thread: %s", c->o.label,
                strerror(rc));
    c->thread_started = true;
    return 0;
}

size_t capture_drain(struct capture *c, struct dp_msg **out, size_t max)
{
    size_t n = 0;
    void *item;

    while (n < max && dp_ring_pop(&c->ring, &item))
        out[n++] = item;
    return n;
}

bool capture_wait(struct capture *c)
{
    atomic_store_explicit(&c->loop_waiting, true, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    return dp_ring_len(&c->ring) > 0;
}

bool capture_finished(struct capture *c)
{
    return atomic_load_explicit(&c->ended, memory_order_acquire) && dp_ring_len(&c->ring) == 0;
}

void capture_stop(struct capture *c)
{
    if (!c->thread_started)
        return;
    atomic_store_explicit(&c->stop, true, memory_order_relaxed);
    pthread_join(c->thread, NULL);
    c->thread_started = false;
}

void capture_stats(struct capture *c, struct capture_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->snap;
    pthread_mutex_unlock(&c->lock);
}

void capture_free(struct capture *c)
{
    void *item;

    if (c == NULL)
        return;
    capture_stop(c);
    if (c->ring.slots != NULL) {
        while (dp_ring_pop(&c->ring, &item))
            dp_msg_unref(item);
        dp_ring_free(&c->ring);
    }
    flow_table_free(c->flows);
    for (size_t i = 0; i < c->n; i++)
        pcap_close(c->h[i]);
    if (c->udp_fd >= 0)
        close(c->udp_fd);
    pcap_file_close(c->file);
    if (c->file_bpf != NULL) {
        pcap_freecode(c->file_bpf);
        free(c->file_bpf);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}
