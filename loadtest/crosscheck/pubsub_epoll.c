/* An independent pub/sub latency check in C, sharing no code with loadtest (the same method as
 * pubsub_epoll.py, without the interpreter's cost per delivery).
 *
 * A forked child publishes on a fixed timetable (clock_nanosleep to each slot, open loop), each
 * payload starting with its scheduled send time (CLOCK_MONOTONIC ns, 19 ASCII digits). The parent
 * holds every subscriber in one epoll loop and records, per delivery, the time its read returned
 * minus the scheduled time, for messages scheduled after the warmup.
 *
 *   cc -O2 -o /tmp/pubsub_epoll loadtest/crosscheck/pubsub_epoll.c
 *   /tmp/pubsub_epoll PORT SUBSCRIBERS RATE SIZE WARMUP_S DURATION_S
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *b, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w <= 0) { perror("write"); exit(1); }
        b += w; n -= (size_t)w;
    }
}

static int cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: %s PORT SUBS RATE SIZE WARMUP DURATION\n", argv[0]); return 2; }
    int port = atoi(argv[1]), subs = atoi(argv[2]), size = atoi(argv[4]);
    double rate = atof(argv[3]), warmup = atof(argv[5]), duration = atof(argv[6]);
    char topic[64], buf[1 << 16];
    snprintf(topic, sizeof topic, "crosscheck-c:%d", getpid());
    int tl = (int)strlen(topic), n;
    int *fds = calloc(subs, sizeof *fds);
    for (int i = 0; i < subs; i++) {
        fds[i] = dial(port);
        n = snprintf(buf, sizeof buf, "*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n", tl, topic);
        send_all(fds[i], buf, n);
    }
    /* The confirmation: *3 $9 subscribe $tl topic :1 (six CRLFs). */
    for (int i = 0; i < subs; i++) {
        int crlf = 0;
        while (crlf < 6) {
            char c;
            if (read(fds[i], &c, 1) != 1) { perror("read"); return 1; }
            crlf += c == '\n';
        }
    }
    int64_t start = now_ns() + 100000000, from = start + (int64_t)(warmup * 1e9);
    int64_t end = from + (int64_t)(duration * 1e9), slots = (int64_t)(rate * (warmup + duration) + 0.5);
    if (fork() == 0) {
        int p = dial(port);
        char msg[4096], pay[2048];
        memset(pay, '.', sizeof pay);
        for (int64_t k = 0; k < slots; k++) {
            int64_t sched = start + (int64_t)(k * 1e9 / rate);
            struct timespec t = {sched / 1000000000, sched % 1000000000};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
            char head[32];
            snprintf(head, sizeof head, "%019lld", (long long)sched);
            memcpy(pay, head, 19);
            n = snprintf(msg, sizeof msg, "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n", tl, topic, size);
            memcpy(msg + n, pay, size);
            memcpy(msg + n + size, "\r\n", 2);
            send_all(p, msg, n + size + 2);
            recv(p, buf, sizeof buf, MSG_DONTWAIT); /* replies: drained, not checked */
        }
        _exit(0);
    }
    int ep = epoll_create1(0);
    for (int i = 0; i < subs; i++) {
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e);
    }
    /* Each delivery: *3 $7 message $tl topic $size payload, fixed length. */
    char hdr[128];
    int hl = snprintf(hdr, sizeof hdr, "*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n", tl, topic, size);
    int rec = hl + size + 2;
    char **pend = calloc(subs, sizeof *pend);
    int *plen = calloc(subs, sizeof *plen);
    for (int i = 0; i < subs; i++) pend[i] = malloc(rec);
    int64_t expected = slots * subs, got = 0, cap = slots * subs, m = 0;
    int64_t *lat = malloc(cap * sizeof *lat);
    struct epoll_event ev[256];
    while (got < expected && now_ns() < end + 5000000000LL) {
        int k = epoll_wait(ep, ev, 256, 100);
        for (int j = 0; j < k; j++) {
            int i = (int)ev[j].data.u32;
            ssize_t r = read(fds[i], buf, sizeof buf);
            if (r <= 0) { fprintf(stderr, "subscriber %d closed\n", i); return 1; }
            int64_t now = now_ns();
            for (ssize_t off = 0; off < r;) {
                int take = rec - plen[i] < r - off ? rec - plen[i] : (int)(r - off);
                memcpy(pend[i] + plen[i], buf + off, take);
                plen[i] += take; off += take;
                if (plen[i] == rec) {
                    int64_t sched = 0;
                    for (int d = 0; d < 19; d++) sched = sched * 10 + (pend[i][hl + d] - '0');
                    if (sched >= from && m < cap) lat[m++] = now - sched;
                    plen[i] = 0; got++;
                }
            }
        }
    }
    wait(NULL);
    qsort(lat, m, sizeof *lat, cmp);
#define Q(p) (m ? lat[(int64_t)((p) * m) < m ? (int64_t)((p) * m) : m - 1] / 1000 : 0)
    printf("deliveries %lld measured %lld p50 %lld p90 %lld p99 %lld p99.9 %lld max %lld (us)\n",
           (long long)got, (long long)m, (long long)Q(0.5), (long long)Q(0.9), (long long)Q(0.99),
           (long long)Q(0.999), (long long)(m ? lat[m - 1] / 1000 : 0));
    return 0;
}
