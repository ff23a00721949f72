/*
 * flags.h: the command line, GoReplay's syntax without its traps.
 *
 * One table (flags.c) maps every flag to a field of struct dp_config, with its kind, default,
 * group and help; the same table parses argv and prints --help (STYLE.md rule 9). Every flag of
 * GoReplay 2.0 is in it; a flag whose feature doppel does not have yet fails at start, naming it.
 */
#ifndef DP_CORE_FLAGS_H
#define DP_CORE_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

/* A list collected from a repeated flag; the strings point into argv or are owned (see below). */
struct dp_strlist {
    const char **v;
    uint32_t n;
};

struct dp_intlist {
    int64_t *v;
    uint32_t n;
};

struct dp_config {
    /* global */
    int64_t verbose;
    bool stats;
    int64_t stats_interval_ns;
    int64_t exit_after_ns;
    bool split_output;
    bool recognize_tcp_sessions;
    const char *http_pprof;
    int64_t copy_buffer_size;
    bool prettify_http;
    const char *middleware;
    const char *lua;
    bool lua_drop_on_error;
    bool middleware_restart;
    const char *cpuprofile;
    const char *memprofile;
    int64_t drain_timeout_ns;
    /* test plugins */
    struct dp_strlist input_dummy;
    bool output_stdout;
    bool output_null;
    /* input-raw */
    struct dp_strlist input_raw;
    const char *input_raw_engine;
    bool input_raw_track_response;
    int64_t input_raw_expire_ns;
    const char *input_raw_protocol;
    const char *input_raw_realip_header;
    const char *input_raw_bpf_filter;
    const char *input_raw_timestamp_type;
    bool input_raw_override_snaplen;
    int64_t input_raw_buffer_size;
    int64_t input_raw_buffer_timeout_ns;
    bool input_raw_promisc;
    bool input_raw_monitor;
    bool input_raw_stats;
    bool input_raw_allow_incomplete;
    struct dp_strlist input_raw_ignore_interface;
    bool input_raw_vlan;
    struct dp_intlist input_raw_vlan_vid;
    int64_t input_raw_vxlan_port;
    struct dp_intlist input_raw_vxlan_vni;
    int64_t input_raw_max_conns;
    int64_t input_raw_max_ooo;
    int64_t input_raw_memcap;
    /* input-file */
    struct dp_strlist input_file;
    bool input_file_loop;
    int64_t input_file_read_depth;
    bool input_file_dry_run;
    int64_t input_file_max_wait_ns;
    /* input-tcp */
    struct dp_strlist input_spop;
    const char *input_spop_message;
    struct dp_strlist input_tcp;
    bool input_tcp_secure;
    const char *input_tcp_certificate;
    const char *input_tcp_certificate_key;
    /* input-kafka */
    const char *input_kafka_host;
    const char *input_kafka_topic;
    bool input_kafka_json_format;
    const char *input_kafka_offset;
    bool input_kafka_use_sasl;
    const char *input_kafka_mechanism;
    const char *input_kafka_username;
    const char *input_kafka_password;
    /* output-http */
    struct dp_strlist output_http;
    int64_t output_http_workers;
    int64_t output_http_workers_min;
    int64_t output_http_worker_timeout_ns;
    int64_t output_http_queue_len;
    int64_t output_http_timeout_ns;
    int64_t output_http_connect_timeout_ns;
    int64_t output_http_redirects;
    bool output_http_skip_verify;
    bool output_http_track_response;
    int64_t output_http_response_buffer;
    bool output_http_stats;
    int64_t output_http_stats_ms;
    const char *output_http_elasticsearch;
    bool http_original_host;
    /* output-file */
    struct dp_strlist output_file;
    bool output_file_append;
    int64_t output_file_flush_interval_ns;
    int64_t output_file_size_limit;
    int64_t output_file_queue_limit;
    int64_t output_file_max_size_limit;
    const char *output_file_buffer;
    /* output-tcp */
    struct dp_strlist output_tcp;
    bool output_tcp_secure;
    bool output_tcp_skip_verify;
    bool output_tcp_sticky;
    int64_t output_tcp_workers;
    bool output_tcp_stats;
    /* output-ws */
    struct dp_strlist output_ws;
    bool output_ws_skip_verify;
    bool output_ws_sticky;
    int64_t output_ws_workers;
    bool output_ws_stats;
    /* output-binary */
    struct dp_strlist output_binary;
    int64_t output_binary_workers;
    int64_t output_binary_timeout_ns;
    bool output_binary_track_response;
    bool output_binary_debug;
    int64_t output_tcp_response_buffer;
    /* output-kafka */
    const char *output_kafka_host;
    const char *output_kafka_topic;
    bool output_kafka_json_format;
    bool output_kafka_use_sasl;
    const char *output_kafka_mechanism;
    const char *output_kafka_username;
    const char *output_kafka_password;
    const char *kafka_tls_ca_cert;
    const char *kafka_tls_client_cert;
    const char *kafka_tls_client_key;
    /* modifiers */
    struct dp_strlist http_set_header;
    struct dp_strlist http_set_param;
    struct dp_strlist http_allow_method;
    struct dp_strlist http_allow_url;
    struct dp_strlist http_disallow_url;
    struct dp_strlist http_allow_header;
    struct dp_strlist http_disallow_header;
    struct dp_strlist http_basic_auth_filter;
    struct dp_strlist http_header_limiter;
    struct dp_strlist http_param_limiter;
    struct dp_strlist http_rewrite_url;
    struct dp_strlist http_rewrite_header;
    /* actions that are not configuration */
    bool help;
    bool version;
};

enum dp_flags_result {
    DP_FLAGS_RUN = 0,  /* configuration complete: run */
    DP_FLAGS_HELP = 1, /* --help was given: print help, exit 0 */
    DP_FLAGS_VERSION = 2,
    DP_FLAGS_ERROR = 3, /* <err> says what is wrong */
    DP_FLAGS_RESULT_COUNT
};

/*
 * Parses <argv> (argv[0] is skipped) into <cfg>, which it first fills with the defaults. Strings
 * in <cfg> point into <argv>; lists are heap-allocated and freed by dp_flags_free(). On error,
 * fills <err> with one line naming the flag and returns DP_FLAGS_ERROR.
 */
enum dp_flags_result dp_flags_parse(struct dp_config *cfg, int argc, char **argv,
        struct dp_err *err);

/* Frees the lists dp_flags_parse() allocated in <cfg>. */
void dp_flags_free(struct dp_config *cfg);

/* Writes the --help text, grouped by plugin, to <out> (a FILE *). */
void dp_flags_help(void *out);

/* Number of flags in the table (GoReplay's plus ours, without deprecated aliases). */
unsigned dp_flags_count(void);

/*
 * Go duration syntax ("500ms", "1m30s", "-2h", "0"): returns 0 and stores nanoseconds in <out>,
 * or -EINVAL. Units: ns us µs ms s m h.
 */
int dp_parse_duration(const char *s, int64_t *out);

/*
 * Sizes as GoReplay ("32mb", "0x10kb", "1_024", "0600Tb") plus "1k", "256m", "2g", "1t": returns
 * 0 and stores bytes in <out>, or -EINVAL / -ERANGE.
 */
int dp_parse_size(const char *s, int64_t *out);

/* Go's strconv.ParseInt(s, 0, 64): 0x 0o 0b prefixes, leading-0 octal, underscores. */
int dp_parse_int(const char *s, int64_t *out);

/* Go's strconv.ParseBool. */
int dp_parse_bool(const char *s, bool *out);

#endif
