#include "core/flags.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum flag_kind {
    FK_BOOL = 0,
    FK_INT,
    FK_STR,
    FK_DURATION,
    FK_SIZE,
    FK_LIST,
    FK_INTLIST,
    FK_COUNT
};

static const char *const flag_kind_names[FK_COUNT] = {
    [FK_BOOL] = "", [FK_INT] = "int", [FK_STR] = "string", [FK_DURATION] = "duration",
    [FK_SIZE] = "size", [FK_LIST] = "value", [FK_INTLIST] = "int",
};

/*
 * What a flag needs to work. A flag whose feature is not ready fails at start with the
 * feature's message: doppel never accepts a flag and then ignores it.
 */
enum flag_feature {
    FEAT_READY = 0,
    FEAT_CAPTURE,
    FEAT_HTTP_OUT,
    FEAT_MODIFY,
    FEAT_MIDDLEWARE,
    FEAT_SPOP,
    FEAT_TCP_LINK,
    FEAT_SESSION,
    FEAT_METRICS,
    FEAT_KAFKA,
    FEAT_WS,
    FEAT_BINARY,
    FEAT_ELASTIC,
    FEAT_GO_PROFILE,
    FEAT_S3,
    FEAT_COUNT
};

static const bool feature_ready[FEAT_COUNT] = {
    [FEAT_READY] = true,
    [FEAT_CAPTURE] = true,
    [FEAT_HTTP_OUT] = true,
    [FEAT_MODIFY] = true,
    [FEAT_MIDDLEWARE] = true,
    [FEAT_SPOP] = true,
};

/* Features doppel will not build: their flags say "not supported", not "not yet". */
static bool feature_unsupported(enum flag_feature f)
{
    return f >= FEAT_KAFKA;
}

/* What a flag of a feature that is not ready says (ready features need none). */
static const char *const feature_msg[FEAT_COUNT] = {
    [FEAT_READY] = "",
    [FEAT_TCP_LINK] = "the doppel-to-doppel TCP link (--input-tcp/--output-tcp) is not "
                      "implemented yet",
    [FEAT_SESSION] = "session-aware replay is not implemented yet",
    [FEAT_METRICS] = "the metrics endpoint is not implemented yet",
    [FEAT_KAFKA] = "Kafka is not supported: doppel scales out on NATS JetStream instead",
    [FEAT_WS] = "WebSocket output is not supported",
    [FEAT_BINARY] = "--output-binary is not supported: session replay of any TCP protocol "
                    "will cover it",
    [FEAT_ELASTIC] = "Elasticsearch export is not supported",
    [FEAT_GO_PROFILE] = "Go profiler flags do not apply to doppel (use perf or valgrind)",
    [FEAT_S3] = "S3 output is not supported",
};

enum flag_group {
    GRP_GLOBAL = 0,
    GRP_TEST,
    GRP_RAW,
    GRP_FILE_IN,
    GRP_TCP_IN,
    GRP_SPOP_IN,
    GRP_KAFKA_IN,
    GRP_HTTP_OUT,
    GRP_FILE_OUT,
    GRP_TCP_OUT,
    GRP_WS_OUT,
    GRP_BINARY_OUT,
    GRP_KAFKA_OUT,
    GRP_MODIFY,
    GRP_COUNT
};

static const struct {
    const char *title;
    const char *example;
} group_info[GRP_COUNT] = {
    [GRP_GLOBAL] = { "General", "doppel --input-file in.gor --output-null --stats" },
    [GRP_TEST] = { "Test and debug plugins", "doppel --input-dummy 0 --output-stdout" },
    [GRP_RAW] = { "input-raw: passive capture (libpcap, pcap files)",
            "doppel --input-raw :80 --input-raw-track-response --output-file rec.gor" },
    [GRP_FILE_IN] = { "input-file: replay .gor files (glob, .gz, speed with |N%)",
            "doppel --input-file 'rec_*.gor.gz|200%' --output-stdout" },
    [GRP_TCP_IN] = { "input-tcp: receive from another doppel or GoReplay",
            "doppel --input-tcp :28020 --output-file rec.gor" },
    [GRP_SPOP_IN] = { "input-spop: mirror from HAProxy as an SPOE agent (doppel)",
            "doppel --input-spop 127.0.0.1:12345 --output-http http://staging:8080" },
    [GRP_KAFKA_IN] = { "input-kafka (not supported: see NATS JetStream)", "" },
    [GRP_HTTP_OUT] = { "output-http: replay requests to a server",
            "doppel --input-file rec.gor --output-http http://staging:8080" },
    [GRP_FILE_OUT] = { "output-file: record to .gor files",
            "doppel --input-dummy 0 --output-file 'rec_%Y%m%d.gor.gz' --output-file-append" },
    [GRP_TCP_OUT] = { "output-tcp: forward to another doppel or GoReplay",
            "doppel --input-raw :80 --output-tcp aggregator:28020" },
    [GRP_WS_OUT] = { "output-ws (not supported)", "" },
    [GRP_BINARY_OUT] = { "output-binary (not supported)", "" },
    [GRP_KAFKA_OUT] = { "output-kafka (not supported)", "" },
    [GRP_MODIFY] = { "HTTP filters and rewrites (requests only)",
            "doppel --input-file rec.gor --http-allow-url '^/api' --output-http http://staging" },
};

struct flag {
    const char *name;
    enum flag_kind kind;
    size_t off;
    const char *def; /* default, parsed by the kind's setter; NULL = zero */
    enum flag_group group;
    enum flag_feature feature;
    const char *help;
};

#define F(n, k, field, d, g, feat, h)                                                              \
    { n, k, offsetof(struct dp_config, field), d, g, feat, h }

static const struct flag flags[] = {
    /* general */
    F("verbose", FK_INT, verbose, "0", GRP_GLOBAL, FEAT_READY,
            "Log verbosity: 0 warnings, 1 info, 2 debug, 3 trace (per message)"),
    F("stats", FK_BOOL, stats, NULL, GRP_GLOBAL, FEAT_READY,
            "Print one line of counters per plugin to stderr every --stats-interval"),
    F("stats-interval", FK_DURATION, stats_interval_ns, "5s", GRP_GLOBAL, FEAT_READY,
            "Period of --stats lines (doppel)"),
    F("exit-after", FK_DURATION, exit_after_ns, "0", GRP_GLOBAL, FEAT_READY,
            "Stop after this long (0: run until the inputs end or a signal)"),
    F("drain-timeout", FK_DURATION, drain_timeout_ns, "5s", GRP_GLOBAL, FEAT_READY,
            "At shutdown, how long outputs may take to deliver what they hold (doppel)"),
    F("split-output", FK_BOOL, split_output, NULL, GRP_GLOBAL, FEAT_READY,
            "Send each message to one output, round-robin, instead of to all"),
    F("recognize-tcp-sessions", FK_BOOL, recognize_tcp_sessions, NULL, GRP_GLOBAL,
            FEAT_SESSION, "Keep the messages of one TCP session on one output"),
    F("http-pprof", FK_STR, http_pprof, NULL, GRP_GLOBAL, FEAT_METRICS,
            "Address of a stats HTTP endpoint"),
    F("copy-buffer-size", FK_SIZE, copy_buffer_size, "5mb", GRP_GLOBAL, FEAT_READY,
            "Longest payload kept; longer ones are truncated and counted"),
    F("prettify-http", FK_BOOL, prettify_http, NULL, GRP_GLOBAL, FEAT_MODIFY,
            "De-chunk and gunzip HTTP bodies, fixing Content-Length"),
    F("middleware", FK_STR, middleware, NULL, GRP_GLOBAL, FEAT_MIDDLEWARE,
            "Command that filters/rewrites messages (GoReplay's hex line protocol)"),
    F("lua", FK_STR, lua, NULL, GRP_MODIFY, FEAT_MODIFY,
            "Lua 5.4 script whose on_request/on_response/on_replay hooks see every message (doppel)"),
    F("lua-drop-on-error", FK_BOOL, lua_drop_on_error, NULL, GRP_MODIFY, FEAT_MODIFY,
            "Drop a message whose Lua hook fails, instead of passing it unchanged (doppel)"),
    F("middleware-restart", FK_BOOL, middleware_restart, NULL, GRP_GLOBAL, FEAT_MIDDLEWARE,
            "Start the middleware again when it exits, instead of stopping doppel (doppel)"),
    F("cpuprofile", FK_STR, cpuprofile, NULL, GRP_GLOBAL, FEAT_GO_PROFILE,
            "GoReplay only: Go CPU profile"),
    F("memprofile", FK_STR, memprofile, NULL, GRP_GLOBAL, FEAT_GO_PROFILE,
            "GoReplay only: Go heap profile"),
    /* test plugins */
    F("input-dummy", FK_LIST, input_dummy, NULL, GRP_TEST, FEAT_READY,
            "Emit a GET request and its response every second (the value is ignored)"),
    F("output-stdout", FK_BOOL, output_stdout, NULL, GRP_TEST, FEAT_READY,
            "Write every message to stdout in .gor format"),
    F("output-null", FK_BOOL, output_null, NULL, GRP_TEST, FEAT_READY,
            "Accept and discard every message"),
    /* input-raw */
    F("input-raw", FK_LIST, input_raw, NULL, GRP_RAW, FEAT_CAPTURE,
            "Capture [host|iface|iface*]:port[,port], or read FILE.pcap[:port]"),
    F("input-raw-engine", FK_STR, input_raw_engine, "libpcap", GRP_RAW, FEAT_CAPTURE,
            "libpcap, pcap_file, vxlan, raw_socket, af_packet"),
    F("input-raw-track-response", FK_BOOL, input_raw_track_response, NULL, GRP_RAW,
            FEAT_CAPTURE, "Also capture responses (type 2)"),
    F("input-raw-expire", FK_DURATION, input_raw_expire_ns, "2s", GRP_RAW, FEAT_CAPTURE,
            "Inactivity after which an unfinished message ends"),
    F("input-raw-protocol", FK_STR, input_raw_protocol, "http", GRP_RAW, FEAT_CAPTURE,
            "http, or binary (any TCP protocol)"),
    F("input-raw-realip-header", FK_STR, input_raw_realip_header, NULL, GRP_RAW, FEAT_CAPTURE,
            "Header to set to the client IP on captured requests"),
    F("input-raw-bpf-filter", FK_STR, input_raw_bpf_filter, NULL, GRP_RAW, FEAT_CAPTURE,
            "BPF filter replacing the generated one"),
    F("input-raw-timestamp-type", FK_STR, input_raw_timestamp_type, NULL, GRP_RAW,
            FEAT_CAPTURE, "pcap timestamp source (host, adapter, ...)"),
    F("input-raw-override-snaplen", FK_BOOL, input_raw_override_snaplen, NULL, GRP_RAW,
            FEAT_CAPTURE, "Accepted for compatibility (doppel's snaplen never truncates)"),
    F("input-raw-buffer-size", FK_SIZE, input_raw_buffer_size, "0", GRP_RAW, FEAT_CAPTURE,
            "Kernel capture buffer size"),
    F("input-raw-buffer-timeout", FK_DURATION, input_raw_buffer_timeout_ns, "0", GRP_RAW,
            FEAT_CAPTURE, "pcap ring block timeout (0: 10ms): the most a packet waits"),
    F("input-raw-promisc", FK_BOOL, input_raw_promisc, NULL, GRP_RAW, FEAT_CAPTURE,
            "Promiscuous mode"),
    F("input-raw-monitor", FK_BOOL, input_raw_monitor, NULL, GRP_RAW, FEAT_CAPTURE,
            "RF monitor mode"),
    F("input-raw-stats", FK_BOOL, input_raw_stats, NULL, GRP_RAW, FEAT_CAPTURE,
            "Per-message TCP stats"),
    F("input-raw-allow-incomplete", FK_BOOL, input_raw_allow_incomplete, NULL, GRP_RAW,
            FEAT_CAPTURE, "Emit messages with capture gaps (marked) instead of dropping them"),
    F("input-raw-ignore-interface", FK_LIST, input_raw_ignore_interface, NULL, GRP_RAW,
            FEAT_CAPTURE, "Interface to skip when capturing on all"),
    F("input-raw-vlan", FK_BOOL, input_raw_vlan, NULL, GRP_RAW, FEAT_CAPTURE,
            "Capture 802.1Q tagged traffic"),
    F("input-raw-vlan-vid", FK_INTLIST, input_raw_vlan_vid, NULL, GRP_RAW, FEAT_CAPTURE,
            "VLAN id to capture (repeat for several: any of them)"),
    F("input-raw-vxlan-port", FK_INT, input_raw_vxlan_port, "4789", GRP_RAW, FEAT_CAPTURE,
            "UDP port of the vxlan engine"),
    F("input-raw-vxlan-vni", FK_INTLIST, input_raw_vxlan_vni, NULL, GRP_RAW, FEAT_CAPTURE,
            "VXLAN VNI to accept (negative: to deny)"),
    F("input-raw-max-conns", FK_INT, input_raw_max_conns, "100000", GRP_RAW, FEAT_CAPTURE,
            "Connections tracked at once; the least recently active is evicted (doppel)"),
    F("input-raw-max-ooo", FK_SIZE, input_raw_max_ooo, "256kb", GRP_RAW, FEAT_CAPTURE,
            "Out-of-order bytes buffered per direction of a connection (doppel)"),
    F("input-raw-memcap", FK_SIZE, input_raw_memcap, "1gb", GRP_RAW, FEAT_CAPTURE,
            "All bytes the capture buffers: messages being cut, out-of-order segments (doppel)"),
    /* input-file */
    F("input-file", FK_LIST, input_file, NULL, GRP_FILE_IN, FEAT_READY,
            "Read .gor files: path or glob, .gz ok; |200% = twice as fast, |max = no pacing"),
    F("input-file-loop", FK_BOOL, input_file_loop, NULL, GRP_FILE_IN, FEAT_READY,
            "Start over at the end of the files"),
    F("input-file-read-depth", FK_INT, input_file_read_depth, "100", GRP_FILE_IN, FEAT_READY,
            "Records per file sorted by timestamp before replay"),
    F("input-file-dry-run", FK_BOOL, input_file_dry_run, NULL, GRP_FILE_IN, FEAT_READY,
            "Read the files and report records, bytes, span and replay time; send nothing"),
    F("input-file-max-wait", FK_DURATION, input_file_max_wait_ns, "0", GRP_FILE_IN,
            FEAT_READY, "Longest pause between two records (0: as recorded)"),
    /* input-spop */
    F("input-spop", FK_LIST, input_spop, NULL, GRP_SPOP_IN, FEAT_SPOP,
            "Listen for HAProxy's SPOE (SPOP) connections on this address (doppel)"),
    F("input-spop-message", FK_STR, input_spop_message, "mirror", GRP_SPOP_IN, FEAT_SPOP,
            "Name of the spoe-message that carries the request (doppel)"),
    /* input-tcp */
    F("input-tcp", FK_LIST, input_tcp, NULL, GRP_TCP_IN, FEAT_TCP_LINK,
            "Listen for .gor records on this address"),
    F("input-tcp-secure", FK_BOOL, input_tcp_secure, NULL, GRP_TCP_IN, FEAT_TCP_LINK,
            "TLS listener"),
    F("input-tcp-certificate", FK_STR, input_tcp_certificate, NULL, GRP_TCP_IN, FEAT_TCP_LINK,
            "PEM certificate"),
    F("input-tcp-certificate-key", FK_STR, input_tcp_certificate_key, NULL, GRP_TCP_IN,
            FEAT_TCP_LINK, "PEM key"),
    /* input-kafka */
    F("input-kafka-host", FK_STR, input_kafka_host, NULL, GRP_KAFKA_IN, FEAT_KAFKA, "Brokers"),
    F("input-kafka-topic", FK_STR, input_kafka_topic, NULL, GRP_KAFKA_IN, FEAT_KAFKA, "Topic"),
    F("input-kafka-json-format", FK_BOOL, input_kafka_json_format, NULL, GRP_KAFKA_IN,
            FEAT_KAFKA, "JSON messages"),
    F("input-kafka-offset", FK_STR, input_kafka_offset, "-1", GRP_KAFKA_IN, FEAT_KAFKA,
            "Start offset"),
    F("input-kafka-use-sasl", FK_BOOL, input_kafka_use_sasl, NULL, GRP_KAFKA_IN, FEAT_KAFKA,
            "SASL"),
    F("input-kafka-mechanism", FK_STR, input_kafka_mechanism, NULL, GRP_KAFKA_IN, FEAT_KAFKA,
            "SASL mechanism"),
    F("input-kafka-username", FK_STR, input_kafka_username, NULL, GRP_KAFKA_IN, FEAT_KAFKA,
            "SASL user"),
    F("input-kafka-password", FK_STR, input_kafka_password, NULL, GRP_KAFKA_IN, FEAT_KAFKA,
            "SASL password"),
    /* output-http */
    F("output-http", FK_LIST, output_http, NULL, GRP_HTTP_OUT, FEAT_HTTP_OUT,
            "Replay requests to this URL (http:// or https://)"),
    F("output-http-workers", FK_INT, output_http_workers, "0", GRP_HTTP_OUT, FEAT_HTTP_OUT,
            "Most requests in flight per target"),
    F("output-http-workers-min", FK_INT, output_http_workers_min, "0", GRP_HTTP_OUT,
            FEAT_HTTP_OUT, "Connections kept open per target"),
    F("output-http-worker-timeout", FK_DURATION, output_http_worker_timeout_ns, "2s",
            GRP_HTTP_OUT, FEAT_HTTP_OUT, "Idle time before an extra connection is closed"),
    F("output-http-queue-len", FK_INT, output_http_queue_len, "1000", GRP_HTTP_OUT,
            FEAT_HTTP_OUT, "Requests queued per target"),
    F("output-http-timeout", FK_DURATION, output_http_timeout_ns, "5s", GRP_HTTP_OUT,
            FEAT_HTTP_OUT, "Time limit of one exchange"),
    F("output-http-connect-timeout", FK_DURATION, output_http_connect_timeout_ns, "2s",
            GRP_HTTP_OUT, FEAT_HTTP_OUT, "Time limit of a connection attempt (doppel)"),
    F("output-http-redirects", FK_INT, output_http_redirects, "0", GRP_HTTP_OUT, FEAT_HTTP_OUT,
            "Redirects to follow"),
    F("output-http-skip-verify", FK_BOOL, output_http_skip_verify, NULL, GRP_HTTP_OUT,
            FEAT_HTTP_OUT, "Do not verify TLS certificates"),
    F("output-http-track-response", FK_BOOL, output_http_track_response, NULL, GRP_HTTP_OUT,
            FEAT_HTTP_OUT, "Emit replayed responses (type 3)"),
    F("output-http-response-buffer", FK_SIZE, output_http_response_buffer, "0", GRP_HTTP_OUT,
            FEAT_HTTP_OUT, "Most bytes of a response kept"),
    F("output-http-stats", FK_BOOL, output_http_stats, NULL, GRP_HTTP_OUT, FEAT_HTTP_OUT,
            "Print replay stats"),
    F("output-http-stats-ms", FK_INT, output_http_stats_ms, "5000", GRP_HTTP_OUT,
            FEAT_HTTP_OUT, "Replay stats period in ms"),
    F("output-http-elasticsearch", FK_STR, output_http_elasticsearch, NULL, GRP_HTTP_OUT,
            FEAT_ELASTIC, "Elasticsearch URL"),
    F("http-original-host", FK_BOOL, http_original_host, NULL, GRP_HTTP_OUT, FEAT_HTTP_OUT,
            "Keep the captured Host header"),
    /* output-file */
    F("output-file", FK_LIST, output_file, NULL, GRP_FILE_OUT, FEAT_READY,
            "Write .gor records; name template %Y %m %d %H %M %S %NS %r %t %i; .gz compresses"),
    F("output-file-append", FK_BOOL, output_file_append, NULL, GRP_FILE_OUT, FEAT_READY,
            "One file per name, appended to (no _N chunks)"),
    F("output-file-flush-interval", FK_DURATION, output_file_flush_interval_ns, "1s",
            GRP_FILE_OUT, FEAT_READY, "How often buffered records are written out"),
    F("output-file-size-limit", FK_SIZE, output_file_size_limit, "32mb", GRP_FILE_OUT,
            FEAT_READY, "Size at which the next _N chunk starts"),
    F("output-file-queue-limit", FK_INT, output_file_queue_limit, "256", GRP_FILE_OUT,
            FEAT_READY, "Records at which the next _N chunk starts (0: no limit)"),
    F("output-file-max-size-limit", FK_SIZE, output_file_max_size_limit, "1tb", GRP_FILE_OUT,
            FEAT_READY, "Total bytes this output writes; then it stops (counted)"),
    F("output-file-buffer", FK_STR, output_file_buffer, NULL, GRP_FILE_OUT, FEAT_S3,
            "Local buffer directory of the S3 output"),
    /* output-tcp */
    F("output-tcp", FK_LIST, output_tcp, NULL, GRP_TCP_OUT, FEAT_TCP_LINK,
            "Send .gor records to host:port"),
    F("output-tcp-secure", FK_BOOL, output_tcp_secure, NULL, GRP_TCP_OUT, FEAT_TCP_LINK,
            "TLS"),
    F("output-tcp-skip-verify", FK_BOOL, output_tcp_skip_verify, NULL, GRP_TCP_OUT,
            FEAT_TCP_LINK, "Do not verify TLS certificates"),
    F("output-tcp-sticky", FK_BOOL, output_tcp_sticky, NULL, GRP_TCP_OUT, FEAT_TCP_LINK,
            "Keep a request and its responses on one connection"),
    F("output-tcp-workers", FK_INT, output_tcp_workers, "10", GRP_TCP_OUT, FEAT_TCP_LINK,
            "Connections"),
    F("output-tcp-stats", FK_BOOL, output_tcp_stats, NULL, GRP_TCP_OUT, FEAT_TCP_LINK,
            "Print stats"),
    /* output-ws */
    F("output-ws", FK_LIST, output_ws, NULL, GRP_WS_OUT, FEAT_WS, "WebSocket URL"),
    F("output-ws-skip-verify", FK_BOOL, output_ws_skip_verify, NULL, GRP_WS_OUT, FEAT_WS,
            "Do not verify TLS certificates"),
    F("output-ws-sticky", FK_BOOL, output_ws_sticky, NULL, GRP_WS_OUT, FEAT_WS, "Sticky"),
    F("output-ws-workers", FK_INT, output_ws_workers, "10", GRP_WS_OUT, FEAT_WS,
            "Connections"),
    F("output-ws-stats", FK_BOOL, output_ws_stats, NULL, GRP_WS_OUT, FEAT_WS, "Stats"),
    /* output-binary */
    F("output-binary", FK_LIST, output_binary, NULL, GRP_BINARY_OUT, FEAT_BINARY,
            "Raw TCP replay"),
    F("output-binary-workers", FK_INT, output_binary_workers, "0", GRP_BINARY_OUT, FEAT_BINARY,
            "Workers"),
    F("output-binary-timeout", FK_DURATION, output_binary_timeout_ns, "0", GRP_BINARY_OUT,
            FEAT_BINARY, "Timeout"),
    F("output-binary-track-response", FK_BOOL, output_binary_track_response, NULL,
            GRP_BINARY_OUT, FEAT_BINARY, "Emit responses"),
    F("output-binary-debug", FK_BOOL, output_binary_debug, NULL, GRP_BINARY_OUT, FEAT_BINARY,
            "Debug"),
    F("output-tcp-response-buffer", FK_SIZE, output_tcp_response_buffer, "0", GRP_BINARY_OUT,
            FEAT_BINARY, "Response buffer of output-binary"),
    /* output-kafka */
    F("output-kafka-host", FK_STR, output_kafka_host, NULL, GRP_KAFKA_OUT, FEAT_KAFKA,
            "Brokers"),
    F("output-kafka-topic", FK_STR, output_kafka_topic, NULL, GRP_KAFKA_OUT, FEAT_KAFKA,
            "Topic"),
    F("output-kafka-json-format", FK_BOOL, output_kafka_json_format, NULL, GRP_KAFKA_OUT,
            FEAT_KAFKA, "JSON messages"),
    F("output-kafka-use-sasl", FK_BOOL, output_kafka_use_sasl, NULL, GRP_KAFKA_OUT, FEAT_KAFKA,
            "SASL"),
    F("output-kafka-mechanism", FK_STR, output_kafka_mechanism, NULL, GRP_KAFKA_OUT,
            FEAT_KAFKA, "SASL mechanism"),
    F("output-kafka-username", FK_STR, output_kafka_username, NULL, GRP_KAFKA_OUT, FEAT_KAFKA,
            "SASL user"),
    F("output-kafka-password", FK_STR, output_kafka_password, NULL, GRP_KAFKA_OUT, FEAT_KAFKA,
            "SASL password"),
    F("kafka-tls-ca-cert", FK_STR, kafka_tls_ca_cert, NULL, GRP_KAFKA_OUT, FEAT_KAFKA,
            "CA certificate"),
    F("kafka-tls-client-cert", FK_STR, kafka_tls_client_cert, NULL, GRP_KAFKA_OUT, FEAT_KAFKA,
            "Client certificate"),
    F("kafka-tls-client-key", FK_STR, kafka_tls_client_key, NULL, GRP_KAFKA_OUT, FEAT_KAFKA,
            "Client key"),
    /* modifiers */
    F("http-set-header", FK_LIST, http_set_header, NULL, GRP_MODIFY, FEAT_MODIFY,
            "'Name: value': replace the first such header or insert it"),
    F("http-set-param", FK_LIST, http_set_param, NULL, GRP_MODIFY, FEAT_MODIFY,
            "'name=value': set a query parameter"),
    F("http-allow-method", FK_LIST, http_allow_method, NULL, GRP_MODIFY, FEAT_MODIFY,
            "Keep only these methods (exact)"),
    F("http-allow-url", FK_LIST, http_allow_url, NULL, GRP_MODIFY, FEAT_MODIFY,
            "Keep requests whose target matches a regex"),
    F("http-disallow-url", FK_LIST, http_disallow_url, NULL, GRP_MODIFY, FEAT_MODIFY,
            "Drop requests whose target matches a regex"),
    F("http-allow-header", FK_LIST, http_allow_header, NULL, GRP_MODIFY, FEAT_MODIFY,
            "'Name:regex': keep requests whose header matches (all must)"),
    F("http-disallow-header", FK_LIST, http_disallow_header, NULL, GRP_MODIFY, FEAT_MODIFY,
            "'Name:regex': drop requests whose header matches"),
    F("http-basic-auth-filter", FK_LIST, http_basic_auth_filter, NULL, GRP_MODIFY, FEAT_MODIFY,
            "Regex the decoded Basic credentials must match"),
    F("http-header-limiter", FK_LIST, http_header_limiter, NULL, GRP_MODIFY, FEAT_MODIFY,
            "'Name:NN%': keep NN% of requests by a hash of the header value"),
    F("http-param-limiter", FK_LIST, http_param_limiter, NULL, GRP_MODIFY, FEAT_MODIFY,
            "'name:NN%': keep NN% of requests by a hash of the parameter value"),
    F("http-rewrite-url", FK_LIST, http_rewrite_url, NULL, GRP_MODIFY, FEAT_MODIFY,
            "'regex:replacement' on the request target ($1 groups)"),
    F("http-rewrite-header", FK_LIST, http_rewrite_header, NULL, GRP_MODIFY, FEAT_MODIFY,
            "'Name: regex,replacement' on a header value"),
    /* actions */
    F("help", FK_BOOL, help, NULL, GRP_GLOBAL, FEAT_READY, "Print this help"),
    F("version", FK_BOOL, version, NULL, GRP_GLOBAL, FEAT_READY, "Print the version"),
};

/* Flags GoReplay renamed or removed: accepted, with a note, as the flag they became. */
static const struct {
    const char *old;
    const char *now;
} aliases[] = {
    { "output-dummy", "output-stdout" },
    { "output-http-header", "http-set-header" },
    { "output-http-method", "http-allow-method" },
    { "output-http-url-regexp", "http-allow-url" },
    { "output-http-rewrite-url", "http-rewrite-url" },
    { "output-http-header-filter", "http-allow-header" },
    { "output-http-header-hash-filter", "http-header-limiter" },
    { "h", "help" },
};

unsigned dp_flags_count(void)
{
    return (unsigned)DP_ARRAY_LEN(flags) - 2; /* help, version */
}

static const struct flag *flag_find(const char *name, size_t len)
{
    for (size_t i = 0; i < DP_ARRAY_LEN(flags); i++) {
        if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0)
            return &flags[i];
    }
    for (size_t i = 0; i < DP_ARRAY_LEN(aliases); i++) {
        if (strlen(aliases[i].old) == len && memcmp(aliases[i].old, name, len) == 0) {
            if (aliases[i].now[0] != 'h')
                fprintf(stderr, "doppel: note: --%s is GoReplay's old name of --%s\n",
                        aliases[i].old, aliases[i].now);
            return flag_find(aliases[i].now, strlen(aliases[i].now));
        }
    }
    return NULL;
}

static size_t edit_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    size_t row[64];

    if (la >= DP_ARRAY_LEN(row) || lb >= DP_ARRAY_LEN(row))
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = DP_MIN(row[j] + 1, row[j - 1] + 1);

            row[j] = DP_MIN(best, diag + (a[i - 1] != b[j - 1]));
            diag = up;
        }
    }
    return row[lb];
}

static const char *flag_suggest(const char *name, size_t len)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;

    for (size_t i = 0; i < DP_ARRAY_LEN(flags); i++) {
        size_t d = edit_distance(name, len, flags[i].name);

        if (d < best_d) {
            best_d = d;
            best = flags[i].name;
        }
    }
    /* A prefix of a longer flag ("--input-file-lo") is a likely typo too. A suggestion must
     * keep some of what was typed ("--" is not a typo of "--lua"). */
    if (best_d > 3 || best_d >= len) {
        for (size_t i = 0; i < DP_ARRAY_LEN(flags); i++) {
            if (len >= 4 && strncmp(flags[i].name, name, len) == 0)
                return flags[i].name;
        }
        return NULL;
    }
    return best;
}

/* ---- value parsers (Go's strconv semantics where GoReplay relies on them) ---- */

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/* Parses the unsigned magnitude of [s, s+len) with Go's base-0 rules. */
static int parse_uint_base0(const char *s, size_t len, uint64_t *out)
{
    unsigned base = 10;
    bool prefixed = false;
    bool last_underscore = true; /* disallows a leading '_' when not prefixed */
    uint64_t v = 0;
    size_t i = 0;
    size_t digits = 0;

    if (len == 0)
        return -EINVAL;
    if (len >= 2 && s[0] == '0') {
        char p = (char)(s[1] | 0x20);

        if (p == 'x' || p == 'o' || p == 'b') {
            base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
            prefixed = true;
            i = 2;
            last_underscore = false; /* "0x_1" is valid in Go */
        } else {
            base = 8;
            i = 1;
            digits = 1;
            last_underscore = false;
        }
    }
    for (; i < len; i++) {
        int d;

        if (s[i] == '_') {
            if (last_underscore)
                return -EINVAL;
            last_underscore = true;
            continue;
        }
        d = digit_value(s[i]);
        if (d >= (int)base)
            return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return -ERANGE;
        v = v * base + (uint64_t)d;
        last_underscore = false;
        digits++;
    }
    if (digits == 0 || last_underscore)
        return -EINVAL;
    (void)prefixed;
    *out = v;
    return 0;
}

int dp_parse_int(const char *s, int64_t *out)
{
    bool neg = false;
    uint64_t v;
    int rc;

    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    rc = parse_uint_base0(s, strlen(s), &v);
    if (rc != 0)
        return rc;
    if (v > (uint64_t)INT64_MAX + neg)
        return -ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int dp_parse_size(const char *s, int64_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {
        { "kb", 10 }, { "mb", 20 }, { "gb", 30 }, { "tb", 40 },
        { "k", 10 },  { "m", 20 },  { "g", 30 },  { "t", 40 },
    };
    char low[64];
    size_t len = strlen(s);
    unsigned shift = 0;
    uint64_t v;
    int rc;

    if (len == 0 || len >= sizeof(low))
        return -EINVAL;
    for (size_t i = 0; i <= len; i++)
        low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] | 0x20 : s[i]);
    for (size_t i = 0; i < DP_ARRAY_LEN(units); i++) {
        size_t sl = strlen(units[i].suffix);

        if (len > sl && memcmp(low + len - sl, units[i].suffix, sl) == 0) {
            shift = units[i].shift;
            len -= sl;
            break;
        }
    }
    rc = parse_uint_base0(low, len, &v);
    if (rc != 0)
        return rc;
    if (v > ((uint64_t)INT64_MAX >> shift))
        return -ERANGE;
    *out = (int64_t)(v << shift);
    return 0;
}

int dp_parse_duration(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {
        { "ns", 1 },
        { "us", 1000 },
        { "\xc2\xb5s", 1000 }, /* µs, U+00B5 */
        { "\xce\xbcs", 1000 }, /* μs, U+03BC */
        { "ms", 1000000 },
        { "s", 1000000000 },
        { "m", 60LL * 1000000000 },
        { "h", 3600LL * 1000000000 },
    };
    const uint64_t lim = (uint64_t)1 << 63;
    bool neg = false;
    uint64_t total = 0;

    /* Go's time.ParseDuration, step by step: integers, not doubles, so "4.1s" is exact. */
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*s == '\0')
        return -EINVAL;
    while (*s != '\0') {
        uint64_t v = 0;
        uint64_t frac = 0;
        double scale = 1;
        bool any = false;
        bool frac_full = false;
        size_t best = SIZE_MAX;
        size_t best_len = 0;
        uint64_t unit;

        while (*s >= '0' && *s <= '9') {
            if (v > (lim - 1) / 10)
                return -ERANGE;
            v = v * 10 + (uint64_t)(*s++ - '0');
            if (v > lim)
                return -ERANGE;
            any = true;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                /* Digits past what 63 bits hold are dropped, as Go does. */
                if (!frac_full && frac <= (lim - 1) / 10 && frac * 10 + (uint64_t)(*s - '0') <= lim) {
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                } else {
                    frac_full = true;
                }
                s++;
                any = true;
            }
        }
        if (!any)
            return -EINVAL;
        for (size_t i = 0; i < DP_ARRAY_LEN(units); i++) {
            size_t ul = strlen(units[i].unit);

            if (strncmp(s, units[i].unit, ul) == 0 && ul > best_len) {
                best = i;
                best_len = ul;
            }
        }
        if (best == SIZE_MAX)
            return -EINVAL; /* Go requires a unit on every number but a lone "0" */
        s += best_len;
        unit = (uint64_t)units[best].ns;
        if (v > lim / unit)
            return -ERANGE;
        v *= unit;
        if (frac > 0) {
            v += (uint64_t)((double)frac * ((double)unit / scale));
            if (v > lim)
                return -ERANGE;
        }
        total += v;
        if (total > lim)
            return -ERANGE;
    }
    if (neg) {
        *out = total == lim ? INT64_MIN : -(int64_t)total;
        return 0;
    }
    if (total > lim - 1)
        return -ERANGE;
    *out = (int64_t)total;
    return 0;
}

int dp_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
    static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };

    for (size_t i = 0; i < DP_ARRAY_LEN(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- the generic setters, one per kind ---- */

static int list_push(void *vec, uint32_t *n, size_t elem)
{
    void **v = vec;
    void *grown;

    if (*n == UINT32_MAX)
        return -ENOMEM;
    if ((*n & (*n - 1)) == 0) { /* grow at powers of two */
        size_t cap = *n == 0 ? 4 : (size_t)*n * 2;

        grown = realloc(*v, cap * elem);
        if (grown == NULL)
            return -ENOMEM;
        *v = grown;
    }
    return 0;
}

static int flag_set(struct dp_config *cfg, const struct flag *f, const char *val,
        struct dp_err *err)
{
    char *field = (char *)cfg + f->off;
    int rc = 0;

    switch (f->kind) {
    case FK_BOOL:
        rc = dp_parse_bool(val, (bool *)(void *)field);
        if (rc != 0)
            return dp_err_set(err, rc, "--%s: '%s' is not a boolean (true or false)", f->name,
                    val);
        return 0;
    case FK_INT:
        rc = dp_parse_int(val, (int64_t *)(void *)field);
        if (rc != 0)
            return dp_err_set(err, rc, "--%s: '%s' is not an integer", f->name, val);
        return 0;
    case FK_STR:
        *(const char **)(void *)field = val;
        return 0;
    case FK_DURATION:
        rc = dp_parse_duration(val, (int64_t *)(void *)field);
        if (rc != 0)
            return dp_err_set(err, rc,
                    "--%s: '%s' is not a duration (examples: 500ms, 2s, 1m30s)", f->name, val);
        return 0;
    case FK_SIZE:
        rc = dp_parse_size(val, (int64_t *)(void *)field);
        if (rc != 0)
            return dp_err_set(err, rc, "--%s: '%s' is not a size (examples: 1024, 64kb, 32mb, 1g)",
                    f->name, val);
        return 0;
    case FK_LIST: {
        struct dp_strlist *l = (struct dp_strlist *)(void *)field;

        if (list_push(&l->v, &l->n, sizeof(*l->v)) != 0)
            return dp_err_set(err, -ENOMEM, "out of memory");
        l->v[l->n++] = val;
        return 0;
    }
    case FK_INTLIST: {
        struct dp_intlist *l = (struct dp_intlist *)(void *)field;
        int64_t v;

        rc = dp_parse_int(val, &v);
        if (rc != 0)
            return dp_err_set(err, rc, "--%s: '%s' is not an integer", f->name, val);
        if (list_push(&l->v, &l->n, sizeof(*l->v)) != 0)
            return dp_err_set(err, -ENOMEM, "out of memory");
        l->v[l->n++] = v;
        return 0;
    }
    case FK_COUNT:
        break;
    }
    DP_BUG_ON(1);
    return -EINVAL;
}

static void flags_defaults(struct dp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < DP_ARRAY_LEN(flags); i++) {
        if (flags[i].def != NULL && flags[i].kind != FK_LIST && flags[i].kind != FK_INTLIST) {
            int rc = flag_set(cfg, &flags[i], flags[i].def, NULL);

            DP_BUG_ON(rc != 0);
        }
    }
}

void dp_flags_free(struct dp_config *cfg)
{
    for (size_t i = 0; i < DP_ARRAY_LEN(flags); i++) {
        char *field = (char *)cfg + flags[i].off;

        if (flags[i].kind == FK_LIST) {
            struct dp_strlist *l = (struct dp_strlist *)(void *)field;

            free(l->v);
            l->v = NULL;
            l->n = 0;
        } else if (flags[i].kind == FK_INTLIST) {
            struct dp_intlist *l = (struct dp_intlist *)(void *)field;

            free(l->v);
            l->v = NULL;
            l->n = 0;
        }
    }
}

static bool flag_given(const struct dp_config *cfg, const struct dp_config *def,
        const struct flag *f)
{
    const char *a = (const char *)cfg + f->off;
    const char *b = (const char *)def + f->off;

    switch (f->kind) {
    case FK_BOOL:
        return *(const bool *)(const void *)a;
    case FK_LIST:
        return ((const struct dp_strlist *)(const void *)a)->n > 0;
    case FK_INTLIST:
        return ((const struct dp_intlist *)(const void *)a)->n > 0;
    case FK_STR:
        return *(const char *const *)(const void *)a != *(const char *const *)(const void *)b;
    default:
        return *(const int64_t *)(const void *)a != *(const int64_t *)(const void *)b;
    }
}

enum dp_flags_result dp_flags_parse(struct dp_config *cfg, int argc, char **argv,
        struct dp_err *err)
{
    struct dp_config def;
    const struct flag *last_bool = NULL;
    bool seen[DP_ARRAY_LEN(flags)] = { false };

    flags_defaults(cfg);
    flags_defaults(&def);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *name;
        const char *eq;
        const char *val;
        const struct flag *f;
        size_t nlen;

        if (arg[0] != '-' || arg[1] == '\0') {
            if (last_bool != NULL && dp_parse_bool(arg, &(bool){ false }) == 0)
                dp_err_set(err, -EINVAL,
                        "unexpected argument '%s' after --%s: a boolean takes its value "
                        "with '=' (--%s=%s)",
                        arg, last_bool->name, last_bool->name, arg);
            else
                dp_err_set(err, -EINVAL,
                        "unexpected argument '%s': doppel takes only flags (see --help)", arg);
            goto fail;
        }
        name = arg + 1 + (arg[1] == '-');
        if (*name == '\0' || *name == '-') {
            dp_err_set(err, -EINVAL, "unexpected argument '%s' (see --help)", arg);
            goto fail;
        }
        eq = strchr(name, '=');
        nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        f = flag_find(name, nlen);
        if (f == NULL) {
            const char *s = flag_suggest(name, nlen);

            if (s != NULL)
                dp_err_set(err, -EINVAL, "unknown flag '%.*s': did you mean --%s?",
                        (int)(nlen + (size_t)(name - arg)), arg, s);
            else
                dp_err_set(err, -EINVAL, "unknown flag '%.*s' (see --help)",
                        (int)(nlen + (size_t)(name - arg)), arg);
            goto fail;
        }
        last_bool = NULL;
        if (eq != NULL) {
            val = eq + 1;
        } else if (f->kind == FK_BOOL) {
            val = "true";
            last_bool = f;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            dp_err_set(err, -EINVAL, "flag --%s needs a value", f->name);
            goto fail;
        }
        if (flag_set(cfg, f, val, err) != 0)
            goto fail;
        seen[f - flags] = true;
    }
    if (cfg->help)
        return DP_FLAGS_HELP;
    if (cfg->version)
        return DP_FLAGS_VERSION;
    for (size_t i = 0; i < DP_ARRAY_LEN(flags); i++) {
        const struct flag *f = &flags[i];

        if (!seen[i] || feature_ready[f->feature])
            continue;
        if (!flag_given(cfg, &def, f) && f->kind == FK_BOOL)
            continue; /* --flag=false asks for nothing */
        dp_err_set(err, -ENOTSUP, "--%s: %s", f->name, feature_msg[f->feature]);
        goto fail;
    }
    return DP_FLAGS_RUN;
fail:
    return DP_FLAGS_ERROR;
}

void dp_flags_help(void *out)
{
    FILE *o = out;

    fprintf(o, "doppel %s: capture production traffic and replay it against test systems.\n\n"
               "usage: doppel --input-... ADDR [--input-...] --output-... ADDR [flags]\n"
               "Flags take -flag or --flag, with --flag=value or --flag value; list flags repeat.\n"
               "Any plugin address takes a limiter: 'ADDR|N' (N messages/s) or 'ADDR|N%%'.\n"
               "Durations: 500ms, 2s, 1m30s. Sizes: 1024, 64kb, 32mb, 1g.\n",
            DP_VERSION);
    for (unsigned g = 0; g < GRP_COUNT; g++) {
        bool any_ready = false;

        for (size_t i = 0; i < DP_ARRAY_LEN(flags); i++)
            any_ready |= flags[i].group == g && feature_ready[flags[i].feature];
        fprintf(o, "\n%s%s\n", group_info[g].title, any_ready ? "" : " [not available]");
        if (group_info[g].example[0] != '\0')
            fprintf(o, "  example: %s\n", group_info[g].example);
        for (size_t i = 0; i < DP_ARRAY_LEN(flags); i++) {
            const struct flag *f = &flags[i];
            char left[64];

            if (f->group != g)
                continue;
            snprintf(left, sizeof(left), "--%s %s", f->name, flag_kind_names[f->kind]);
            fprintf(o, "  %-36s %s", left, f->help);
            if (f->def != NULL && strcmp(f->def, "0") != 0)
                fprintf(o, " (default %s)", f->def);
            if (f->kind == FK_LIST || f->kind == FK_INTLIST)
                fprintf(o, " [repeatable]");
            if (!feature_ready[f->feature] && any_ready)
                fprintf(o, feature_unsupported(f->feature) ? " [not supported]"
                                                           : " [not available yet]");
            fputc('\n', o);
        }
    }
}
