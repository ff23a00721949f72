#include "inputs/raw_devices.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

static bool ignored(const char *name, const struct dp_strlist *ignore)
{
    for (uint32_t i = 0; i < ignore->n; i++) {
        if (strcmp(ignore->v[i], name) == 0)
            return true;
    }
    return false;
}

/* Pseudo-devices that carry no IP traffic of their own. */
static bool pseudo(const char *name)
{
    static const char *const skip[] = { "any", "nflog", "nfqueue", "dbus", "bluetooth", "usbmon" };

    for (size_t i = 0; i < DP_ARRAY_LEN(skip); i++) {
        if (strncmp(name, skip[i], strlen(skip[i])) == 0)
            return true;
    }
    return false;
}

static bool owns_ip(const pcap_if_t *d, const char *host, bool ipv6)
{
    uint8_t want[16];

    if (inet_pton(ipv6 ? AF_INET6 : AF_INET, host, want) != 1)
        return false;
    for (const pcap_addr_t *a = d->addresses; a != NULL; a = a->next) {
        if (a->addr == NULL)
            continue;
        if (!ipv6 && a->addr->sa_family == AF_INET &&
                memcmp(&((const struct sockaddr_in *)(const void *)a->addr)->sin_addr, want, 4) == 0)
            return true;
        if (ipv6 && a->addr->sa_family == AF_INET6 &&
                memcmp(&((const struct sockaddr_in6 *)(const void *)a->addr)->sin6_addr, want, 16) ==
                        0)
            return true;
    }
    return false;
}

int raw_devices_select(const struct raw_addr *a, const struct dp_strlist *ignore,
        struct raw_device *out, size_t cap, struct dp_err *err)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    char names[512] = "";
    pcap_if_t *all = NULL;
    size_t n = 0;
    int pass;

    if (pcap_findalldevs(&all, ebuf) != 0)
        return dp_err_set(err, -EIO, "--input-raw: cannot list interfaces: %s", ebuf);
    /* Pass 0 applies the address; pass 1 (an IP no interface owns) takes every interface. */
    for (pass = 0; pass < 2 && n == 0; pass++) {
        if (pass == 1 && a->kind != RAW_ADDR_IP)
            break;
        for (pcap_if_t *d = all; d != NULL; d = d->next) {
            bool up = (d->flags & PCAP_IF_UP) != 0 && d->addresses != NULL;
            bool take;

            if (names[0] == '\0' || strlen(names) + strlen(d->name) + 3 < sizeof(names))
                snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                        names[0] ? ", " : "", d->name);
            switch (a->kind) {
            case RAW_ADDR_IFACE:
                take = strcmp(d->name, a->host) == 0;
                break;
            case RAW_ADDR_IFACE_PREFIX:
                take = strncmp(d->name, a->host, strlen(a->host)) == 0 && !pseudo(d->name);
                break;
            case RAW_ADDR_IP:
                take = up && !pseudo(d->name) && (pass == 1 || owns_ip(d, a->host, a->ipv6));
                break;
            default:
                take = up && !pseudo(d->name);
                break;
            }
            if (!take || ignored(d->name, ignore))
                continue;
            if (n == cap)
                break;
            snprintf(out[n].name, sizeof(out[n].name), "%s", d->name);
            out[n].loopback = (d->flags & PCAP_IF_LOOPBACK) != 0;
            n++;
        }
    }
    pcap_freealldevs(all);
    if (n == 0)
        return dp_err_set(err, -ENODEV, "--input-raw: no interface matches '%s' (interfaces: %s)",
                a->host[0] ? a->host : "any", names);
    return (int)n;
}
