/*
 * The fixture the pvclock-pages qtests share (pvclock-pages-common.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <glib/gstdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "qemu/atomic.h"
#include "qemu/cutils.h"
#include "qobject/qnum.h"
#include "pvclock-pages-common.h"

void make_pages(struct pvcp_host_page *pages)
{
    memset(pages, 0, PVCP_FILE_SIZE);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        struct pvcp_host_page *h = &pages[i];

        h->magic = PVCP_HOST_MAGIC;
        h->abi_major = PVCP_ABI_MAJOR;
        h->abi_minor = PVCP_ABI_MINOR;
        h->page_index = i;
        h->seq = 2;
        h->counter_mode = i == 0 ? PVCP_COUNTER_TSC : PVCP_COUNTER_NONE;
        h->flags = i == 0 ? PVCP_HOST_F_VALID : 0;
        h->counter_hz = 2500000000ull;
        h->hres.cycle_last = 0x1000 + i;
        h->hres.mult = 0x800000;
        h->hres.shift = 23;
        h->hres_base[PVCP_HRES_REALTIME].sec = 1700000000 + i;
        pvcp_page_seal(h);
    }
}

void write_file(const char *path, const void *buf, size_t len)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(g_file_set_contents(path, buf, len, &err));
}

TestPages *pages_new(void)
{
    TestPages *tp = g_new0(TestPages, 1);
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);

    tp->dir = g_dir_make_tmp("pvclock-pages-test-XXXXXX", NULL);
    g_assert_nonnull(tp->dir);
    tp->path = g_build_filename(tp->dir, "pages", NULL);
    make_pages(pages);
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    return tp;
}

char *pages_extra_file(TestPages *tp, const char *name)
{
    return g_build_filename(tp->dir, name, NULL);
}

void pages_free(TestPages *tp)
{
    g_autoptr(GDir) d = g_dir_open(tp->dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *f = g_build_filename(tp->dir, name, NULL);

        if (g_file_test(f, G_FILE_TEST_IS_DIR)) {
            g_rmdir(f);
        } else {
            g_unlink(f);
        }
    }
    g_rmdir(tp->dir);
    g_free(tp->dir);
    g_free(tp->path);
    g_free(tp);
}

QTestState *start_qemu(const char *pages, uint64_t qtest_offset)
{
    return qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                       "addr=%d.0,pages=%s,x-qtest-offset=%" PRIu64,
                       DEV_SLOT, pages, qtest_offset);
}

QPCIDevice *find_device(QPCIBus *bus)
{
    QPCIDevice *dev = qpci_device_find(bus, DEV_DEVFN);

    g_assert_nonnull(dev);
    qpci_device_enable(dev);
    return dev;
}

void end_test(QTestState *qts, QPCIBus *bus, QPCIDevice *dev,
              TestPages *tp)
{
    g_free(dev);
    qpci_free_pc(bus);
    qtest_quit(qts);
    pages_free(tp);
}

/*
 * The offset page's reserved space reads as zero whatever state the
 * device is in: 0x028 up to mono_offset (reserved since ABI 1.6; the
 * transform of readers before 1.3 until then, which such a reader
 * computes with if it is valid) and everything after the live
 * descriptor.
 */
static size_t first_nonzero(const void *page, size_t from, size_t to)
{
    const uint8_t *p = page;

    while (from < to && !p[from]) {
        from++;
    }
    return from;
}

void assert_reserved_zero(const struct pvcp_offset_page *op)
{
    const size_t old_xform_end = offsetof(struct pvcp_offset_page,
                                          mono_offset);
    const size_t tail = offsetof(struct pvcp_offset_page, reserved);

    g_assert_cmphex(first_nonzero(op, 0x028, old_xform_end), ==,
                    old_xform_end);
    g_assert_cmphex(first_nonzero(op, tail, PVCP_PAGE_SIZE), ==,
                    PVCP_PAGE_SIZE);
}

void offset_page_read(QPCIDevice *dev, QPCIBar bar,
                      struct pvcp_offset_page *op)
{
    qpci_memread(dev, bar, PVCP_BAR_OFFSET_PAGE, op, sizeof(*op));
    assert_reserved_zero(op);
}

QDict *qom_get(QTestState *qts, const char *id, const char *prop)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QDict *resp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                            "{'path': %s, 'property': %s}}", path, prop);

    g_assert_true(qdict_haskey(resp, "return"));
    return resp;
}

char *qom_get_str(QTestState *qts, const char *id, const char *prop)
{
    QDict *resp = qom_get(qts, id, prop);
    char *value = g_strdup(qdict_get_str(resp, "return"));

    qobject_unref(resp);
    return value;
}

uint64_t qom_get_u64(QTestState *qts, const char *id, const char *prop)
{
    QDict *resp = qom_get(qts, id, prop);
    uint64_t value = qnum_get_uint(qobject_to(QNum, qdict_get(resp,
                                                               "return")));

    qobject_unref(resp);
    return value;
}

bool qom_get_bool(QTestState *qts, const char *id, const char *prop)
{
    QDict *resp = qom_get(qts, id, prop);
    bool value = qdict_get_bool(resp, "return");

    qobject_unref(resp);
    return value;
}

void watch_round(QTestState *qts)
{
    qtest_clock_step(qts, WATCH_NS);
}

void watch_rounds(QTestState *qts, int n)
{
    for (int i = 0; i < n; i++) {
        watch_round(qts);
    }
}

void watch_rounds_stopped(QTestState *qts, const char *id, int n)
{
    qom_set_u64(qts, id, "x-qtest-watch", n);
}

static bool status_is(QTestState *qts, const char *id, const char *want,
                      char **st)
{
    g_free(*st);
    *st = qom_get_str(qts, id, "status");
    return !strcmp(*st, want);
}

void wait_status(QTestState *qts, const char *id, const char *want)
{
    g_autofree char *st = NULL;

    if (!watch_until(qts, status_is(qts, id, want, &st))) {
        g_assert_cmpstr(st, ==, want);
    }
}

void read_offset_page(QTestState *qts, int slot,
                      struct pvcp_offset_page *op)
{
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = qpci_device_find(bus, QPCI_DEVFN(slot, 0));
    QPCIBar bar;

    g_assert_nonnull(dev);
    qpci_device_enable(dev);
    bar = qpci_iomap(dev, 0, NULL);
    offset_page_read(dev, bar, op);
    qpci_iounmap(dev, bar);
    g_free(dev);
    qpci_free_pc(bus);
}

void rewrite_in_place(const char *path,
                      const struct pvcp_host_page *pages)
{
    int fd = open(path, O_WRONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, pages, PVCP_FILE_SIZE, 0), ==,
                    PVCP_FILE_SIZE);
    close(fd);
}

int pages_memfd(bool sealed, struct pvcp_host_page **map)
{
    int fd = memfd_create("pvclock-pages-test", MFD_CLOEXEC |
                          MFD_ALLOW_SEALING);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, PVCP_FILE_SIZE), ==, 0);
    if (sealed) {
        g_assert_cmpint(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
                              F_SEAL_SEAL), ==, 0);
    }
    *map = mmap(NULL, PVCP_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                fd, 0);
    g_assert_true(*map != MAP_FAILED);
    make_pages(*map);
    return fd;
}

static void send_handoff(int conn, int fd)
{
    struct pvcp_handoff msg = {
        .magic = PVCP_HANDOFF_MAGIC, .abi_major = PVCP_ABI_MAJOR,
        .abi_minor = PVCP_ABI_MINOR, .size = PVCP_FILE_SIZE,
    };
    union {
        struct cmsghdr hdr;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl = { 0 };
    struct iovec iov = { .iov_base = &msg, .iov_len = sizeof(msg) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
    };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    g_autofree char *self = g_strdup_printf("/proc/self/fd/%d", fd);
    int ro = open(self, O_RDONLY | O_CLOEXEC);

    g_assert_cmpint(ro, >=, 0);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &ro, sizeof(int));
    g_assert_cmpint(sendmsg(conn, &mh, MSG_NOSIGNAL), ==, sizeof(msg));
    close(ro);
}

static gpointer helper_serve(gpointer opaque)
{
    TestHelper *th = opaque;
    int conn;

    while ((conn = accept(th->listen_fd, NULL, NULL)) >= 0) {
        switch (qatomic_read(&th->mode)) {
        case SERVE_PAGES:
            send_handoff(conn, qatomic_read(&th->memfd));
            break;
        case SERVE_SILENT:
            /* keep it open, unanswered, until the helper stops */
            th->silent[th->n_silent++ % 4] = dup(conn);
            break;
        case SERVE_GARBAGE:
            g_assert_cmpint(write(conn, "hello, world", 12), ==, 12);
            break;
        }
        qatomic_inc(&th->served);
        close(conn);
    }
    return NULL;
}

TestHelper *helper_start(TestPages *tp, bool sealed)
{
    TestHelper *th = g_new0(TestHelper, 1);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    th->path = pages_extra_file(tp, "pages.sock");
    pstrcpy(sa.sun_path, sizeof(sa.sun_path), th->path);
    th->memfd = pages_memfd(sealed, &th->map);
    th->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(bind(th->listen_fd, (struct sockaddr *)&sa,
                         sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(th->listen_fd, 8), ==, 0);
    th->thread = g_thread_new("pvclock-test-helper", helper_serve, th);
    return th;
}

void helper_stop(TestHelper *th)
{
    shutdown(th->listen_fd, SHUT_RDWR);
    g_thread_join(th->thread);
    for (int i = 0; i < MIN(th->n_silent, 4); i++) {
        close(th->silent[i]);
    }
    close(th->listen_fd);
    close(th->memfd);
    munmap(th->map, PVCP_FILE_SIZE);
    g_unlink(th->path);
    g_free(th->path);
    g_free(th);
}

uint64_t host_tsc(void)
{
    return pvcp_counter_read(pvcp_counter_order_detect());
}

void make_real_host(struct pvcp_host_page *pages)
{
    struct pvcp_host_page *h = &pages[0];
    struct timespec r0, r1, ts;
    static const struct {
        clockid_t id;
        int index;
    } bases[] = {
        { CLOCK_REALTIME, PVCP_HRES_REALTIME },
        { CLOCK_MONOTONIC, PVCP_HRES_MONOTONIC },
        { CLOCK_BOOTTIME, PVCP_HRES_BOOTTIME },
        { CLOCK_TAI, PVCP_HRES_TAI },
    };
    uint64_t t0, t1, hz;

    make_pages(pages);
    clock_gettime(CLOCK_MONOTONIC_RAW, &r0);
    t0 = host_tsc();
    g_usleep(20000);
    clock_gettime(CLOCK_MONOTONIC_RAW, &r1);
    t1 = host_tsc();
    hz = (uint64_t)((t1 - t0) * 1e9 /
                    ((r1.tv_sec - r0.tv_sec) * 1e9 +
                     (r1.tv_nsec - r0.tv_nsec)));
    h->counter_hz = hz;
    h->hres.shift = 24;
    h->hres.mult = (uint32_t)((1000000000ull << 24) / hz);
    h->hres.max_cycles = PVCP_S64_MAX / h->hres.mult;
    h->hres.cycle_last = host_tsc() & PVCP_S64_MAX;
    for (size_t i = 0; i < G_N_ELEMENTS(bases); i++) {
        clock_gettime(bases[i].id, &ts);
        h->hres_base[bases[i].index].sec = ts.tv_sec;
        h->hres_base[bases[i].index].nsec_shifted = (uint64_t)ts.tv_nsec << 24;
    }
    h->raw = h->hres;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    h->raw_base.sec = ts.tv_sec;
    h->raw_base.nsec_shifted = (uint64_t)ts.tv_nsec << 24;
    pvcp_page_seal(h);
}

TestPages *pages_new_real(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);

    make_real_host(pages);
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    return tp;
}

void make_host(struct pvcp_host_page *pages, uint64_t hz,
               uint64_t mono_sec, uint64_t realtime_sec)
{
    make_pages(pages);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        struct pvcp_host_page *h = &pages[i];

        h->counter_hz = hz;
        h->hres.shift = h->raw.shift = 24;
        h->hres.mult = h->raw.mult = (uint32_t)((1000000000ull << 24) / hz);
        h->hres.max_cycles = h->raw.max_cycles = PVCP_S64_MAX / h->hres.mult;
        h->hres.cycle_last = h->raw.cycle_last = host_tsc();
        h->hres_base[PVCP_HRES_MONOTONIC].sec = mono_sec;
        h->hres_base[PVCP_HRES_BOOTTIME].sec = mono_sec;
        h->raw_base.sec = mono_sec;
        h->hres_base[PVCP_HRES_REALTIME].sec = realtime_sec;
        h->hres_base[PVCP_HRES_TAI].sec = realtime_sec + 37;
        h->tai_offset = 37;     /* the kernel's: an NTP daemon set it */
        pvcp_page_seal(h);
    }
}

char *migrate_and_wait(QTestState *from, const char *uri)
{
    QDict *rsp;
    char *status = NULL;

    rsp = qtest_qmp(from, "{'execute': 'migrate-set-capabilities', "
                    "'arguments': {'capabilities': [{'capability': "
                    "'return-path', 'state': true}]}}");
    qobject_unref(rsp);
    rsp = qtest_qmp(from, "{'execute': 'migrate', 'arguments': {'uri': %s}}",
                    uri);
    g_assert_true(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    for (int i = 0; i < 600; i++) {
        QDict *r = qtest_qmp(from, "{'execute': 'query-migrate'}");
        QDict *ret = qdict_get_qdict(r, "return");
        const char *st = qdict_haskey(ret, "status") ?
                         qdict_get_str(ret, "status") : "none";

        if (!strcmp(st, "completed") || !strcmp(st, "failed")) {
            status = g_strdup(st);
            qobject_unref(r);
            break;
        }
        qobject_unref(r);
        g_usleep(50 * 1000);
    }
    return status;
}

char *run_state(QTestState *qts)
{
    QDict *r = qtest_qmp(qts, "{'execute': 'query-status'}");
    char *st = g_strdup(qdict_get_str(qdict_get_qdict(r, "return"),
                                      "status"));

    qobject_unref(r);
    return st;
}

void wait_loaded(QTestState *qts, const char *want)
{
    g_autofree char *rs = run_state(qts);

    for (int i = 0; i < 500 && !strcmp(rs, "inmigrate"); i++) {
        g_usleep(20 * 1000);
        g_free(rs);
        rs = run_state(qts);
    }
    g_assert_cmpstr(rs, ==, want);
}

void qom_set_u64(QTestState *qts, const char *id, const char *prop,
                 uint64_t value)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QDict *resp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': "
                            "{'path': %s, 'property': %s, 'value': %llu}}",
                            path, prop, (unsigned long long)value);

    if (!qdict_haskey(resp, "return")) {
        g_test_message("qom-set %s %s=%" PRIu64 " failed", id, prop, value);
    }
    g_assert_true(qdict_haskey(resp, "return"));
    qobject_unref(resp);
}

/* xorshift64*: the same sequence on every run, from a printed seed */
static uint64_t rng_state;

uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

double rng_unit(void)
{
    return (rng() >> 11) * (1.0 / 9007199254740992.0);
}

void rng_seed(void)
{
    const char *env = g_getenv("PVCLOCK_SEED");

    rng_state = env ? g_ascii_strtoull(env, NULL, 0) : 0x9e3779b97f4a7c15ull;
    rng_state |= 1;
    g_test_message("seed 0x%" PRIx64 " (PVCLOCK_SEED)", rng_state);
}

uint64_t kvm_guest(uint64_t ratio, unsigned frac, uint64_t offset,
                   uint64_t h, uint64_t *first)
{
    pvcp_u128 q;

    if (!ratio) {
        *first = h;
        return h + offset;
    }
    q = ((pvcp_u128)h * ratio) >> frac;
    *first = (uint64_t)((((q << frac) + ratio - 1)) / ratio);
    return (uint64_t)q + offset;
}

char *start_pair(TestPages *tp, uint64_t hz_a, uint64_t dis_a,
                 uint64_t hz_b, uint64_t dis_b, bool paused,
                 QTestState **from, QTestState **to)
{
    g_autofree char *pa = pages_extra_file(tp, "hostA");
    g_autofree char *pb = pages_extra_file(tp, "hostB");
    g_autofree char *sock = pages_extra_file(tp, "mig.sock");
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    char *uri = g_strdup_printf("unix:%s", sock);

    for (int side = 0; side < 2; side++) {
        make_host(pages, side ? hz_b : hz_a, side ? 9000 : 1000, 1700000000);
        for (int i = 0; i < PVCP_HOST_PAGES; i++) {
            pages[i].disruptions = side ? dis_b : dis_a;
            pvcp_page_seal(&pages[i]);
        }
        write_file(side ? pb : pa, pages, PVCP_FILE_SIZE);
    }
    *from = qtest_initf("-machine pc -nodefaults -device " PVC ","
                        "id=pvc,addr=%d.0,pages=%s", DEV_SLOT, pa);
    *to = qtest_initf("-machine pc -nodefaults %s -device " PVC ","
                      "id=pvc,addr=%d.0,pages=%s -incoming %s",
                      paused ? "-S" : "", DEV_SLOT, pb, uri);
    return uri;
}

void vmc_read(QTestState *qts, Vmc *v)
{
    uint8_t b[VMC_LEN];
    uint32_t seq2;

    for (int tries = 0; tries < 1000; tries++) {
        qtest_memread(qts, VMC_ADDR, b, sizeof(b));
        memcpy(&v->seq, b + 0x0c, 4);
        seq2 = qtest_readl(qts, VMC_ADDR + 0x0c);
        if (!(v->seq & 1) && seq2 == v->seq) {
            break;
        }
    }
    g_assert_false(v->seq & 1);
    memcpy(&v->magic, b, 4);
    memcpy(&v->size, b + 4, 4);
    memcpy(&v->version, b + 8, 2);
    v->counter_id = b[0x0a];
    v->time_type = b[0x0b];
    memcpy(&v->marker, b + 0x10, 8);
    memcpy(&v->flags, b + 0x18, 8);
    v->status = b[0x22];
    v->smearing = b[0x23];
    memcpy(&v->tai_offset, b + 0x24, 2);
    v->leap = b[0x26];
    v->shift = b[0x27];
    memcpy(&v->counter, b + 0x28, 8);
    memcpy(&v->period, b + 0x30, 8);
    memcpy(&v->period_est, b + 0x38, 8);
    memcpy(&v->period_max, b + 0x40, 8);
    memcpy(&v->sec, b + 0x48, 8);
    memcpy(&v->frac, b + 0x50, 8);
    memcpy(&v->est_ns, b + 0x58, 8);
    memcpy(&v->max_ns, b + 0x60, 8);
    memcpy(&v->generation, b + 0x68, 8);
}

TestPages *pages_new_tai(uint64_t hz, int tai_offset)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);

    make_host(pages, hz, 1000, 1700000000);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pages[i].tai_offset = tai_offset;
        pages[i].hres_base[PVCP_HRES_TAI].sec = 1700000000 + tai_offset;
        pages[i].esterror_ns = 20000;
        pages[i].maxerror_ns = 300000;
        pvcp_page_seal(&pages[i]);
    }
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    return tp;
}

/*
 * A shift out of the ABI's range in host page 0 (issue 32, finding 2):
 * the lines' shifts (hres, raw), the kvmclock stage's, a simulated
 * host's frac_bits, at 64, 70, 100, 110, 120 and 127, sealed with the
 * check words as a helper writes them, reaching the device by each path
 * (a pages file, memdev=, the helper's socket), with vmclock on and off.
 * With vmclock=on the device computes TAI from page 0 on its main loop;
 * an unchecked shift there hung QEMU (100) or killed it with SIGFPE
 * (127), and 64 was published as valid.  QEMU must keep answering QMP,
 * call the pages damaged (no-helper) in the offset page, and keep the
 * VMClock page unreliable.  Each path meets each field with vmclock=off
 * (pvclock-pages-bar-test), and half of them, each field by some path,
 * with vmclock=on (pvclock-pages-vmclock-test).
 */
typedef struct BadShift {
    const char *path;           /* file, memdev, socket */
    const char *field;          /* hres, raw, kvmclock, sim */
    bool vmclock;
    int value;
} BadShift;

static void bad_shift_apply(struct pvcp_host_page *h, const BadShift *b)
{
    if (!strcmp(b->field, "hres")) {
        h->hres.shift = b->value;
    } else if (!strcmp(b->field, "raw")) {
        h->raw.shift = b->value;
    } else if (!strcmp(b->field, "kvmclock")) {
        h->counter_mode = PVCP_COUNTER_TSC_KVMCLOCK;
        h->kvmclock.tsc_to_system_mul = 1u << 31;
        h->kvmclock.tsc_shift = b->value;
    } else {
        h->flags |= PVCP_HOST_F_SIMULATED;
        h->sim.mult = 1ull << 32;
        h->sim.frac_bits = b->value;
        h->sim.flags = PVCP_XFORM_F_VALID;
    }
    pvcp_page_seal(h);
}

static void test_bad_shift(const void *opaque)
{
    const BadShift *b = opaque;
    TestPages *tp = pages_new_tai(2500000000ull, 37);
    TestHelper *th = NULL;
    g_autofree char *file = NULL, *st = NULL, *source = NULL;
    g_autofree char *memdev = NULL;
    struct pvcp_offset_page op;
    QTestState *qts;
    gsize len;
    Vmc v;

    g_assert_true(g_file_get_contents(tp->path, &file, &len, NULL));
    g_assert_cmpuint(len, ==, PVCP_FILE_SIZE);
    bad_shift_apply((struct pvcp_host_page *)file, b);
    if (!strcmp(b->path, "socket")) {
        th = helper_start(tp, true);
        memcpy(th->map, file, PVCP_FILE_SIZE);
        source = g_strdup_printf("pages=%s", th->path);
    } else if (!strcmp(b->path, "memdev")) {
        write_file(tp->path, file, PVCP_FILE_SIZE);
        memdev = g_strdup_printf("-object memory-backend-file,id=hp,"
                                 "mem-path=%s,size=%d,share=on,readonly=on",
                                 tp->path, PVCP_FILE_SIZE);
        source = g_strdup("memdev=hp");
    } else {
        write_file(tp->path, file, PVCP_FILE_SIZE);
        source = g_strdup_printf("pages=%s", tp->path);
    }

    qts = qtest_initf("-machine pc -nodefaults %s -device " PVC ",id=pvc,"
                      "addr=%d.0,%s,on-missing=degraded%s",
                      memdev ? memdev : "", DEV_SLOT, source,
                      b->vmclock ? ",vmclock=on" : "");
    wait_status(qts, "pvc", "no-helper");
    watch_rounds(qts, 2);       /* each with a VMClock update */
    st = qom_get_str(qts, "pvc", "status");
    g_assert_cmpstr(st, ==, "no-helper");
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_NO_HELPER);
    if (b->vmclock) {
        vmc_read(qts, &v);
        g_assert_cmpuint(v.status, ==, 4 /* unreliable */);
    }
    qtest_quit(qts);
    if (th) {
        helper_stop(th);
    }
    pages_free(tp);
}

void add_bad_shift_tests(bool vmclock)
{
    static const char *const paths[] = { "file", "memdev", "socket" };
    static const char *const fields[] = { "hres", "raw", "kvmclock", "sim" };
    static const int values[] = { 64, 100, 127, 70, 110, 120 };
    static BadShift cases[G_N_ELEMENTS(paths) * G_N_ELEMENTS(fields)];

    for (size_t p = 0; p < G_N_ELEMENTS(paths); p++) {
        for (size_t f = 0; f < G_N_ELEMENTS(fields); f++) {
            size_t k = p * G_N_ELEMENTS(fields) + f;
            BadShift *b = &cases[k];
            g_autofree char *name = NULL;

            b->path = paths[p];
            b->field = fields[f];
            if (vmclock && (p + f) % 2) {
                continue;
            }
            b->vmclock = vmclock;
            b->value = values[k % G_N_ELEMENTS(values)];
            name = g_strdup_printf("/pvclock-pages/bad-shift/%s-%s-%d-"
                                   "vmclock-%s", b->path, b->field,
                                   b->value, b->vmclock ? "on" : "off");
            qtest_add_data_func(name, b, test_bad_shift);
        }
    }
}
