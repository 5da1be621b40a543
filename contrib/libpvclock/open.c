/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * libpvclock: finding, mapping and opening the pages, and the handle.
 * The read path is read.c; the arithmetic lives in pvclock-pages-calc.h.
 */
#define _GNU_SOURCE             /* F_GET_SEALS, MSG_CMSG_CLOEXEC */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvclock-internal.h"
#include "pvclock-pages/pvclock-handoff.h"

#define PVCLOCK_SYSFS_PCI       "/sys/bus/pci/devices"
/* The driver's class, and the prefix of its nodes' names. */
#define PVCLOCK_NODE_PREFIX     "pvclock-pages"

/* Set once at load; read.c's counter reads follow it. */
enum pvcp_counter_order pvclock_counter_order;

__attribute__((constructor)) static void pvclock_detect_order(void)
{
    pvclock_counter_order = pvcp_counter_order_detect();
}

uint64_t pvclock_read_counter(void)
{
    return pvcp_counter_read(pvclock_counter_order);
}

static const char *const error_text[PVCLOCK_ERRORS] = {
    [PVCLOCK_OK] = "success",
    [PVCLOCK_ENOTMAPPED] = "pvclock handle is not open",
    [PVCLOCK_EOPEN] = "cannot open or map the pvclock pages",
    [PVCLOCK_ENODEV] = "no pvclock-pages PCI device (1af4:10f0) found",
    [PVCLOCK_ESIZE] = "pages file or BAR is smaller than the ABI requires",
    [PVCLOCK_EMAGIC] = "not pvclock-pages data (bad magic)",
    [PVCLOCK_EVERSION] = "unsupported pvclock-pages ABI version (another "
                         "major, or an offset page before 1.7)",
    [PVCLOCK_EUNPUBLISHED] = "this host page variant is not published "
                             "(or, read on the host, is a simulated host's)",
    [PVCLOCK_EBADPAGE] = "pvclock page contents are inconsistent",
    [PVCLOCK_ENOTVALID] = "device reports the pages are not valid",
    [PVCLOCK_EUNRELIABLE] = "device cannot relate guest and host counters",
    [PVCLOCK_ESTALE] = "host helper is not updating the pages (stale)",
    [PVCLOCK_ECLOCK] = "clock id not provided by pvclock-pages",
    [PVCLOCK_EBUSY] = "pages kept changing while being read",
    [PVCLOCK_EINVAL] = "invalid argument",
};

const char *pvclock_strerror(int err)
{
    if (err < 0 || err >= PVCLOCK_ERRORS || !error_text[err]) {
        return "unknown pvclock error";
    }
    return error_text[err];
}

static int check_host_page(const volatile struct pvcp_host_page *h, int index)
{
    if (h->magic != PVCP_HOST_MAGIC) {
        return PVCLOCK_EMAGIC;
    }
    if (h->abi_major != PVCP_ABI_MAJOR) {
        return PVCLOCK_EVERSION;
    }
    if (h->page_index != (uint32_t)index) {
        return PVCLOCK_EBADPAGE;
    }
    return PVCLOCK_OK;
}

/* The one message a pvclock-helper --socket sends: header and descriptor. */
static int receive_pages_fd(int sock, int timeout_ms)
{
    struct pvcp_handoff msg;
    int fd = pvcp_handoff_receive(sock, timeout_ms, &msg), seals, e;

    if (fd < 0) {
        errno = -fd;
        return -1;
    }
    e = EPROTO;
    if (msg.magic == PVCP_HANDOFF_MAGIC && msg.abi_major == PVCP_ABI_MAJOR &&
        msg.size == PVCP_FILE_SIZE) {
        /* never map what another process could make short under us */
        seals = fcntl(fd, F_GET_SEALS);
        e = seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) ==
                          (F_SEAL_SHRINK | F_SEAL_GROW) ? 0 : EPERM;
    }
    if (e) {
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int pvclock_pages_fd(const char *socket_path, int timeout_ms)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int sock, fd, e;

    if (!socket_path || strlen(socket_path) >= sizeof(sa.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    strcpy(sa.sun_path, socket_path);
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sock < 0) {
        return -1;
    }
    if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        e = errno;
        close(sock);
        errno = e;
        return -1;
    }
    fd = receive_pages_fd(sock, timeout_ms);
    e = errno;
    close(sock);
    errno = e;
    return fd;
}

/* How long pvclock_open_host() waits for a helper's socket to answer. */
#define HANDOFF_WAIT_MS 1000

/*
 * Map the file, the socket's memfd or the driver's node at path: need
 * bytes, read-only.  A character device (the driver's) has no size to
 * check; it refuses a mapping longer than its BAR itself.
 */
static int map_pages(const char *path, size_t need, void **map,
                     mode_t *mode)
{
    struct stat st;
    int fd, e;

    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        fd = pvclock_pages_fd(path, HANDOFF_WAIT_MS);
    } else {
        /* never block: a FIFO at the path would hang until a writer */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    }
    if (fd < 0) {
        return PVCLOCK_EOPEN;
    }
    if (fstat(fd, &st) < 0) {
        e = errno;
        close(fd);
        errno = e;
        return PVCLOCK_EOPEN;
    }
    if (!S_ISCHR(st.st_mode) &&
        (!S_ISREG(st.st_mode) || (size_t)st.st_size < need)) {
        close(fd);
        return PVCLOCK_ESIZE;
    }
    *mode = st.st_mode;
    *map = mmap(NULL, need, PROT_READ, MAP_SHARED, fd, 0);
    e = errno;
    close(fd);
    errno = e;
    return *map == MAP_FAILED ? PVCLOCK_EOPEN : PVCLOCK_OK;
}

/*
 * The time namespace's offsets of the process opening the handle, as
 * the kernel adds them in clock_gettime() (kernel/time/namespace.c,
 * timens_setup_vdso_data()): monotonic to MONOTONIC, MONOTONIC_RAW and
 * MONOTONIC_COARSE, boottime to BOOTTIME.  No /proc/self/timens_offsets
 * (a kernel without CONFIG_TIME_NS, no /proc): no offsets.  Read once:
 * a process changes its time namespace only by setns(), single-threaded
 * (pvclock.h says when to open the handle again).
 */
static void read_timens(struct pvcp_timens_offset *o)
{
    FILE *f = fopen("/proc/self/timens_offsets", "re");
    char name[16];
    long long sec;
    unsigned long nsec;

    memset(o, 0, PVCP_MONO_CLOCKS * sizeof(*o));
    if (!f) {
        return;
    }
    while (fscanf(f, "%15s %lld %lu", name, &sec, &nsec) == 3) {
        struct pvcp_timens_offset v = { (int64_t)sec, nsec };

        if (nsec >= 1000000000ul) {
            continue;
        }
        if (!strcmp(name, "monotonic")) {
            o[PVCP_MONO_MONOTONIC] = v;
            o[PVCP_MONO_RAW] = v;
        } else if (!strcmp(name, "boottime")) {
            o[PVCP_MONO_BOOTTIME] = v;
        }
    }
    fclose(f);
}

/* Check what the memory holds and make it a handle. */
static int open_checked(struct pvclock **pcp, const struct pvclock_memory *m,
                        void *map, size_t map_len)
{
    const volatile struct pvcp_offset_page *op = m->offset;
    struct pvclock *pc;
    int err;

    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        err = check_host_page((const volatile struct pvcp_host_page *)
                              ((const char *)m->host + i * PVCP_PAGE_SIZE), i);
        if (err) {
            return err;
        }
    }
    if (op) {
        /* magic, major, and a writer of 1.7 or later */
        unsigned bad = pvcp_offset_ident_check(op->magic, op->abi_major,
                                               op->abi_minor);

        if (bad) {
            return bad & PVCP_BAD_MAGIC ? PVCLOCK_EMAGIC : PVCLOCK_EVERSION;
        }
    }
    pc = calloc(1, sizeof(*pc));
    if (!pc) {
        return PVCLOCK_EOPEN;       /* errno is ENOMEM */
    }
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pc->host[i] = (const volatile struct pvcp_host_page *)
                      ((const char *)m->host + i * PVCP_PAGE_SIZE);
    }
    pc->offset = op;
    pc->live = m->live;
    pc->map = map;
    pc->map_len = map_len;
    pc->page = -1;
    pc->use_live = 1;
    pc->mapping = map ? PVCLOCK_MAP_FILE : PVCLOCK_MAP_MEMORY;
    read_timens(pc->timens);
    *pcp = pc;
    return PVCLOCK_OK;
}

/* Which way a guest's path (of file type mode) reaches the BAR. */
static int mapping_of(const char *path, mode_t mode)
{
    static const char node[] = "/dev/" PVCLOCK_NODE_PREFIX;

    if (S_ISCHR(mode) || !strncmp(path, node, sizeof(node) - 1)) {
        return PVCLOCK_MAP_DEVICE;
    }
    return !strncmp(path, "/sys/", 5) ? PVCLOCK_MAP_SYSFS : PVCLOCK_MAP_FILE;
}

/*
 * Map path (a pages file, the helper's socket, a BAR) and open it.  Of a
 * BAR only its memory: the host pages, the offset page and the live
 * page.  The driver refuses a mapping of the live page where the device
 * has none (EINVAL: an MMIO hole); then the handle has no live page.
 */
static int open_path(struct pvclock **pcp, const char *path, int bar)
{
    size_t len = bar ? PVCP_BAR_LIVE_PAGE + PVCP_PAGE_SIZE : PVCP_FILE_SIZE;
    struct pvclock_memory m;
    mode_t mode;
    void *map;
    int err;

    err = map_pages(path, len, &map, &mode);
    if (err == PVCLOCK_EOPEN && bar && errno == EINVAL) {
        len = PVCP_BAR_LIVE_PAGE;
        err = map_pages(path, len, &map, &mode);
    }
    if (err) {
        return err;
    }
    m.host = (const char *)map + PVCP_BAR_HOST_PAGE(0);
    m.offset = bar ? (const char *)map + PVCP_BAR_OFFSET_PAGE : NULL;
    m.live = bar && len > PVCP_BAR_LIVE_PAGE
             ? (const char *)map + PVCP_BAR_LIVE_PAGE : NULL;
    err = open_checked(pcp, &m, map, len);
    if (err) {
        munmap(map, len);
    } else if (bar) {
        (*pcp)->mapping = mapping_of(path, mode);
    }
    return err;
}

int pvclock_open_host(struct pvclock **pc, const char *pages_path)
{
    if (!pc) {
        return PVCLOCK_EINVAL;
    }
    *pc = NULL;
    return pages_path ? open_path(pc, pages_path, 0) : PVCLOCK_EINVAL;
}

/* One hexadecimal ID from a sysfs file; 0 if it cannot be read. */
static unsigned read_id(const char *dir, const char *name)
{
    char file[512];
    unsigned id = 0;
    FILE *f;

    snprintf(file, sizeof(file), "%s/%s", dir, name);
    f = fopen(file, "re");
    if (!f) {
        return 0;
    }
    if (fscanf(f, "%x", &id) != 1) {
        id = 0;
    }
    fclose(f);
    return id;
}

/* The sysfs directory of the index'th PCI device with these IDs. */
static int find_pci_dir(unsigned vendor, unsigned device, unsigned index,
                        char *path, size_t len)
{
    struct dirent *de;
    int err = PVCLOCK_ENODEV;
    DIR *dir;

    dir = opendir(PVCLOCK_SYSFS_PCI);
    if (!dir) {
        return PVCLOCK_ENODEV;
    }
    while ((de = readdir(dir)) != NULL) {
        char dev[300];

        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(dev, sizeof(dev), "%s/%s", PVCLOCK_SYSFS_PCI, de->d_name);
        if (read_id(dev, "vendor") != vendor ||
            read_id(dev, "device") != device || index-- > 0) {
            continue;
        }
        err = (size_t)snprintf(path, len, "%s", dev) >= len
              ? PVCLOCK_EINVAL : PVCLOCK_OK;
        break;
    }
    closedir(dir);
    return err;
}

/* BAR bar's sysfs file of the device at sysfs directory dev. */
static int resource_path(const char *dev, unsigned bar, char *path,
                         size_t len)
{
    return (size_t)snprintf(path, len, "%s/resource%u", dev, bar) >= len
           ? PVCLOCK_EINVAL : PVCLOCK_OK;
}

int pvclock_find_pci(unsigned vendor, unsigned device, unsigned index,
                     unsigned bar, char *path, size_t len)
{
    char dev[300];
    int err = find_pci_dir(vendor, device, index, dev, sizeof(dev));

    return err ? err : resource_path(dev, bar, path, len);
}

/*
 * The driver's node for the device at sysfs directory dev: its class
 * directory names it (dev/pvclock-pages/pvclock-pagesN), and devtmpfs
 * or udev made /dev/pvclock-pagesN.  0 if there is none.
 */
static int find_node(const char *dev, char *path, size_t len)
{
    static const char prefix[] = PVCLOCK_NODE_PREFIX;
    char cls[400];
    struct dirent *de;
    struct stat st;
    int found = 0;
    DIR *dir;

    snprintf(cls, sizeof(cls), "%s/" PVCLOCK_NODE_PREFIX, dev);
    dir = opendir(cls);
    if (!dir) {
        return 0;
    }
    while (!found && (de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, prefix, sizeof(prefix) - 1) ||
            (size_t)snprintf(path, len, "/dev/%s", de->d_name) >= len) {
            continue;
        }
        found = stat(path, &st) == 0;
    }
    closedir(dir);
    return found;
}

int pvclock_find_device(char *path, size_t len)
{
    char dev[300];
    int err = find_pci_dir(PVCP_PCI_VENDOR_ID, PVCP_PCI_DEVICE_ID, 0,
                           dev, sizeof(dev));

    if (err || find_node(dev, path, len)) {
        return err;
    }
    return resource_path(dev, 0, path, len);
}

int pvclock_open_guest(struct pvclock **pc, const char *path)
{
    char found[512];
    int err;

    if (!pc) {
        return PVCLOCK_EINVAL;
    }
    *pc = NULL;
    if (!path) {
        err = pvclock_find_device(found, sizeof(found));
        if (err) {
            return err;
        }
        path = found;
    }
    return open_path(pc, path, 1);
}

int pvclock_open_memory(struct pvclock **pc, const struct pvclock_memory *mem)
{
    if (!pc) {
        return PVCLOCK_EINVAL;
    }
    *pc = NULL;
    if (!mem || !mem->host || (mem->live && !mem->offset)) {
        return PVCLOCK_EINVAL;
    }
    return open_checked(pc, mem, NULL, 0);
}

void pvclock_close(struct pvclock *pc)
{
    if (!pc) {
        return;
    }
    if (pc->map) {
        munmap(pc->map, pc->map_len);
    }
    free(pc);
}

int pvclock_mapping(const struct pvclock *pc)
{
    return pc ? pc->mapping : -1;
}

const char *pvclock_mapping_note(int mapping)
{
    if (mapping != PVCLOCK_MAP_SYSFS) {
        return "";
    }
    return "sysfs resource0 is for root only, refused under kernel lockdown "
           "and mapped uncached (UC-); load the pvclock-pages driver for "
           "/dev/pvclock-pagesN";
}

int pvclock_select_page(struct pvclock *pc, int page)
{
    if (!pc) {
        return PVCLOCK_ENOTMAPPED;
    }
    if (page < -1 || page >= PVCP_HOST_PAGES) {
        return PVCLOCK_EINVAL;
    }
    pc->page = page;
    return PVCLOCK_OK;
}

int pvclock_use_live(struct pvclock *pc, int on)
{
    if (!pc) {
        return PVCLOCK_ENOTMAPPED;
    }
    pc->use_live = !!on;
    return PVCLOCK_OK;
}

const volatile struct pvcp_host_page *
pvclock_host_page(const struct pvclock *pc, int page)
{
    return pc && page >= 0 && page < PVCP_HOST_PAGES ? pc->host[page] : NULL;
}

const volatile struct pvcp_offset_page *
pvclock_offset_page(const struct pvclock *pc)
{
    return pc ? pc->offset : NULL;
}

const volatile void *pvclock_live_page(const struct pvclock *pc)
{
    return pc ? pc->live : NULL;
}
