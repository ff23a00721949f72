/*
 * pcap_count: the floor for any libpcap tool reading a capture file. Opens <file> with
 * nanosecond timestamps (as doppel does), walks every packet with pcap_next_ex and prints
 *   packets=N bytes=M
 * where M is the sum of captured lengths. Nothing else is done with the packets, so its time is
 * what libpcap alone costs; bench/capture_offline.sh measures doppel against it.
 *
 *   cc -std=c17 -O2 -Wall -Wextra -Werror bench/pcap_count.c -lpcap -o build/bench/pcap_count
 *   build/bench/pcap_count FILE.pcap
 */
/* pcap.h uses u_int and u_char, which strict -std=c17 hides without this */
#define _DEFAULT_SOURCE
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *hdr;
    const u_char *data;
    uint64_t packets = 0, bytes = 0;
    pcap_t *p;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.pcap\n", argv[0]);
        return 2;
    }
    p = pcap_open_offline_with_tstamp_precision(argv[1], PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (p == NULL) {
        fprintf(stderr, "pcap_count: %s\n", errbuf);
        return 1;
    }
    while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
        packets++;
        bytes += hdr->caplen;
    }
    if (rc == PCAP_ERROR) {
        /* a truncated last record is an error too: say so, but print what was read */
        fprintf(stderr, "pcap_count: %s\n", pcap_geterr(p));
    }
    printf("packets=%llu bytes=%llu\n", (unsigned long long)packets, (unsigned long long)bytes);
    pcap_close(p);
    return rc == PCAP_ERROR ? 1 : 0;
}
