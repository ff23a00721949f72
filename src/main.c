/* main.c: flags → pipeline → run; nothing else. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/flags.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/pipeline.h"

int main(int argc, char **argv)
{
    struct dp_config cfg;
    struct dp_err err = { 0, { 0 } };
    struct dp_pipeline *p = NULL;
    int status = 1;

    switch (dp_flags_parse(&cfg, argc, argv, &err)) {
    case DP_FLAGS_HELP:
        dp_flags_help(stdout);
        dp_flags_free(&cfg);
        return 0;
    case DP_FLAGS_VERSION:
        printf("doppel %s\n", DP_VERSION);
        dp_flags_free(&cfg);
        return 0;
    case DP_FLAGS_ERROR:
        fprintf(stderr, "doppel: %s\n", err.msg);
        dp_flags_free(&cfg);
        return 1;
    case DP_FLAGS_RUN:
    case DP_FLAGS_RESULT_COUNT:
        break;
    }
    if (cfg.verbose > 0)
        dp_log_set_all(cfg.verbose >= 3 ? DP_LOG_TRACE : (enum dp_log_level)(DP_LOG_WARN + cfg.verbose));
    /* A closed stdout pipe must become an error on that output, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (dp_pipeline_new(&cfg, &p, &err) != 0) {
        fprintf(stderr, "doppel: %s\n", err.msg);
        goto out;
    }
    status = dp_pipeline_run(p, &err);
    if (status < 0) {
        fprintf(stderr, "doppel: %s\n", err.msg);
        status = 1;
    }
out:
    dp_pipeline_free(p);
    dp_msg_cache_drain();
    dp_flags_free(&cfg);
    return status;
}
