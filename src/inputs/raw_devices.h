/* raw_devices.h: which interfaces an --input-raw address captures on (GoReplay's rules). */
#ifndef DP_INPUTS_RAW_DEVICES_H
#define DP_INPUTS_RAW_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/flags.h"
#include "inputs/raw_addr.h"

struct raw_device {
    char name[64];
    bool loopback;
};

/*
 * Fills <out> (capacity <cap>) with the interfaces <a> selects, minus <ignore>: every interface
 * that is up and has an address (":80"), the ones owning an IP ("10.0.0.1:80"; all when none
 * owns it), a name ("eth0:80") or a name prefix ("eth*:80"). Returns the count, or -errno with
 * <err> filled (no such interface: the message lists the ones there are).
 */
int raw_devices_select(const struct raw_addr *a, const struct dp_strlist *ignore,
        struct raw_device *out, size_t cap, struct dp_err *err);

#endif
