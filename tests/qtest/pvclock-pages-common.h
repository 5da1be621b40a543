/*
 * The fixture the pvclock-pages qtests share: pages files as
 * pvclock-helper writes them, a stand-in for its socket, QEMU started
 * with the device on them, the guest's view through BAR0, the device's
 * properties, and the device's 1 Hz watch run from the test.
 *
 * One program per concern (tests/qtest/pvclock-pages-*-test.c), each
 * case one behaviour: a reader of these files learns what the device
 * promises.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PVCLOCK_PAGES_COMMON_H
#define PVCLOCK_PAGES_COMMON_H

#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/pci.h"
#include "libqos/pci-pc.h"
#include "pvclock-pages/pvclock-pages-abi.h"
#include "pvclock-pages/pvclock-pages-cpu.h"
#include "pvclock-pages/pvclock-pages-calc.h"

#define PVC "pvclock-pages,x-counter-backend=qtest"

#define DEV_SLOT 4

#define DEV_DEVFN QPCI_DEVFN(DEV_SLOT, 0)

typedef struct TestPages {
    char *dir;
    char *path;
} TestPages;

/* A pages file as pvclock-helper writes it, with recognisable contents. */
void make_pages(struct pvcp_host_page *pages);

void write_file(const char *path, const void *buf, size_t len);

TestPages *pages_new(void);

char *pages_extra_file(TestPages *tp, const char *name);

void pages_free(TestPages *tp);

QTestState *start_qemu(const char *pages, uint64_t qtest_offset);

QPCIDevice *find_device(QPCIBus *bus);

/* The end of a test that started QEMU on tp and found the device. */
void end_test(QTestState *qts, QPCIBus *bus, QPCIDevice *dev,
              TestPages *tp);

void assert_reserved_zero(const struct pvcp_offset_page *op);

/* The guest's view of the offset page, checked for the above. */
void offset_page_read(QPCIDevice *dev, QPCIBar bar,
                      struct pvcp_offset_page *op);

/* qom-get of a device property; the caller unrefs the response. */
QDict *qom_get(QTestState *qts, const char *id, const char *prop);

char *qom_get_str(QTestState *qts, const char *id, const char *prop);

uint64_t qom_get_u64(QTestState *qts, const char *id, const char *prop);

bool qom_get_bool(QTestState *qts, const char *id, const char *prop);

/*
 * The device's 1 Hz watch (PVCLOCK_PAGES_WATCH_MS) runs on the virtual
 * clock under the qtest accelerator: watch_round() runs one round now,
 * as clock_step does for any virtual timer, instead of a second's sleep.
 * The virtual clock runs only while the VM runs (not before its first
 * start, not while it is stopped): there watch_rounds_stopped() asks
 * device id for n rounds through its x-qtest-watch property, as host
 * time would run them under a real accelerator.
 */
#define WATCH_NS (1000 * 1000 * 1000)
void watch_round(QTestState *qts);
void watch_rounds(QTestState *qts, int n);
void watch_rounds_stopped(QTestState *qts, const char *id, int n);

/*
 * Look at cond (an expression), running a watch round between looks,
 * for up to WAIT_US of host time; true if it came to hold.  What a round
 * decides holds after one round.  What also takes host time (a
 * heartbeat's age, a write stuck for a second, a device thread, a bottom
 * half) gets it, 10 ms a look.
 */
#define WAIT_US (5 * G_USEC_PER_SEC)
#define watch_until(qts, cond)                                          \
    ({                                                                  \
        int64_t wait_end_ = g_get_monotonic_time() + WAIT_US;           \
        bool held_ = (cond);                                            \
                                                                        \
        while (!held_ && g_get_monotonic_time() < wait_end_) {          \
            watch_round(qts);                                           \
            held_ = (cond);                                             \
            if (!held_) {                                               \
                g_usleep(10 * 1000);                                    \
            }                                                           \
        }                                                               \
        held_;                                                          \
    })

/* Watch rounds until the status property of device id is want. */
void wait_status(QTestState *qts, const char *id, const char *want);

void read_offset_page(QTestState *qts, int slot,
                      struct pvcp_offset_page *op);

/* Write the whole file in place, as a helper would (same inode). */
void rewrite_in_place(const char *path,
                      const struct pvcp_host_page *pages);

/*
 * A stand-in for pvclock-helper --socket (struct pvcp_handoff): a thread
 * that answers every client with the current memfd, or with what a test
 * makes it send instead.
 */
typedef enum {
    SERVE_PAGES,                /* the header and a read-only memfd */
    SERVE_SILENT,               /* accept, never answer */
    SERVE_GARBAGE,              /* bytes that are no handoff */
} ServeMode;

typedef struct TestHelper {
    char *path;
    int listen_fd;
    int memfd;                  /* writable: the "helper's" own */
    struct pvcp_host_page *map;
    ServeMode mode;
    GThread *thread;
    int served;
    int silent[4];
    int n_silent;
} TestHelper;

int pages_memfd(bool sealed, struct pvcp_host_page **map);

TestHelper *helper_start(TestPages *tp, bool sealed);

void helper_stop(TestHelper *th);

uint64_t host_tsc(void);

/*
 * Pages whose page 0 gives this host's clocks (to well within a second),
 * as a real helper's do: the device uses the live page only then.  The
 * TSC rate is measured against MONOTONIC_RAW over 20 ms.
 */
void make_real_host(struct pvcp_host_page *pages);

TestPages *pages_new_real(void);

/* A host at hz whose MONOTONIC reads mono_sec at the current TSC. */
void make_host(struct pvcp_host_page *pages, uint64_t hz,
               uint64_t mono_sec, uint64_t realtime_sec);

char *migrate_and_wait(QTestState *from, const char *uri);

char *run_state(QTestState *qts);

/*
 * Wait until an incoming QEMU has loaded its state (run state no longer
 * inmigrate, up to 10 s) and assert it is then want: "running" for one
 * started with -incoming file: (a file loads as QEMU starts, possibly
 * before QMP's handshake, while no event is sent yet: a wait for RESUME
 * can hang, it did once, under load), "paused" for a destination kept
 * paused after a live migration.
 */
void wait_loaded(QTestState *qts, const char *want);

void qom_set_u64(QTestState *qts, const char *id, const char *prop,
                 uint64_t value);

uint64_t rng(void);

double rng_unit(void);

void rng_seed(void);

/*
 * The guest counter at host count h as KVM's hardware runs it:
 * floor(h * ratio / 2^frac) truncated to 64 bits, plus offset (mod 2^64).
 * ratio 0: unscaled.  Also the first host count at which the guest
 * counter reads that value (what a correct inverse may return, or one
 * less: see struct pvcp_ref_xform).
 */
uint64_t kvm_guest(uint64_t ratio, unsigned frac, uint64_t offset,
                   uint64_t h, uint64_t *first);

/*
 * Two hosts (pages files hostA and hostB at hz_a and hz_b, whose helpers
 * counted dis_a and dis_b disruptions), a source QEMU on A and a
 * destination on B waiting for the stream (paused after it with -S if
 * paused).  Returns the migration URI.
 */
char *start_pair(TestPages *tp, uint64_t hz_a, uint64_t dis_a,
                 uint64_t hz_b, uint64_t dis_b, bool paused,
                 QTestState **from, QTestState **to);

#define VMC_ADDR        0xfeffb000ull

#define VMC_LEN         0x70

/* The fields of Linux 7.x's struct vmclock_abi the tests look at. */
typedef struct Vmc {
    uint32_t magic, size;
    uint16_t version;
    uint8_t counter_id, time_type;
    uint32_t seq;
    uint64_t marker, flags;
    uint8_t status, smearing;
    int16_t tai_offset;
    uint8_t leap, shift;
    uint64_t counter, period, period_est, period_max;
    uint64_t sec, frac, est_ns, max_ns, generation;
} Vmc;

/* A consistent copy of the page, as a guest reader takes it. */
void vmc_read(QTestState *qts, Vmc *v);

TestPages *pages_new_tai(uint64_t hz, int tai_offset);

/*
 * The bad-shift cases (a shift out of the ABI's range in host page 0),
 * registered with vmclock off or on.
 */
void add_bad_shift_tests(bool vmclock);

#endif
