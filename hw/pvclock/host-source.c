/*
 * pvclock-pages: where the host pages come from.
 *
 * The device maps a memory backend into its BAR, as ivshmem-plain does:
 * memdev= names one, or pages=PATH makes one, a memory-backend-file
 * child of the device, over what PATH gives:
 *
 * - pvclock-helper's socket (--socket): the helper hands over its pages
 *   memfd, read-only, sealed against shrinking and growing, so no
 *   mapping of it can turn short under a reader: the kernel refuses the
 *   truncation instead (struct pvcp_handoff in the ABI header);
 * - a regular file (--pages): memory-backend-file's rule holds, the file
 *   must not be truncated while QEMU maps it (pvclock-helper never does).
 *
 * Either way the backend opens /proc/self/fd/N of the descriptor checked
 * here, so what is mapped is what was checked.  Nothing here blocks: the
 * file is opened O_NONBLOCK and its type checked before anything else, the
 * socket is waited on for at most PVCLOCK_HANDOFF_WAIT_MS.
 *
 * The views of host memory the BAR shows (the pages, the live page) are
 * made here too: read-only to the guest and to QEMU's own writers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qapi/error.h"
#include "qom/object_interfaces.h"
#include "system/hostmem.h"
#include "hw/boards.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "pvclock-pages/pvclock-handoff.h"
#include "trace.h"

#include <sys/un.h>

/*
 * How long the device waits for a helper to answer on its socket: at
 * realize (start, device_add), as long as libpvclock waits, since a
 * helper on a busy host may not run at once (100 ms was seen to fail a
 * start on this project's loaded 2-core machine); from the 1 Hz watch,
 * which holds the BQL and tries again next round, briefly.
 */
#define PVCLOCK_HANDOFF_START_MS 1000
#define PVCLOCK_HANDOFF_WATCH_MS 100

#define PVCLOCK_NEED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

static int receive_handoff(int sock, const char *path, int wait_ms,
                           Error **errp)
{
    struct pvcp_handoff msg;
    int fd = pvcp_handoff_receive(sock, wait_ms, &msg);

    if (fd == -ETIMEDOUT) {
        error_setg(errp, "pvclock-helper at '%s' (property 'pages') did not "
                   "answer within %d ms", path, wait_ms);
        return -1;
    }
    if (fd < 0) {
        error_setg(errp, "'%s' (property 'pages') answered with no "
                   "pvclock-helper pages (it %s): is it pvclock-helper's "
                   "--socket?", path, pvcp_handoff_strerror(fd));
        return -1;
    }
    if (le32_to_cpu(msg.magic) != PVCP_HANDOFF_MAGIC) {
        error_setg(errp, "'%s' (property 'pages') answered with no "
                   "pvclock-helper pages: is it pvclock-helper's --socket?",
                   path);
        goto fail;
    }
    if (le16_to_cpu(msg.abi_major) != PVCP_ABI_MAJOR) {
        error_setg(errp, "pvclock-helper at '%s' (property 'pages') has ABI "
                   "version %u.%u, this QEMU supports %u.x: run a "
                   "pvclock-helper that matches this QEMU", path,
                   le16_to_cpu(msg.abi_major), le16_to_cpu(msg.abi_minor),
                   PVCP_ABI_MAJOR);
        goto fail;
    }
    return fd;

fail:
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

static int connect_helper(const char *path, int wait_ms, Error **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int sock, fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        error_setg(errp, "socket path '%s' (property 'pages') is too long",
                   path);
        return -1;
    }
    pstrcpy(sa.sun_path, sizeof(sa.sun_path), path);
    /* non-blocking: a unix connect() is then accepted or refused at once */
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        error_setg_errno(errp, errno, "cannot make a socket");
        return -1;
    }
    if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        error_setg_errno(errp, errno, "cannot connect to pvclock-helper at "
                         "'%s' (property 'pages'); is it running?", path);
        close(sock);
        return -1;
    }
    fd = receive_handoff(sock, path, wait_ms, errp);
    close(sock);
    return fd;
}

/*
 * Is fd something the device may map: a regular file (or memfd) of at
 * least the pages' size, sealed if it came from a helper's socket?
 */
static bool check_fd(const char *path, int fd, bool from_socket,
                     Error **errp)
{
    struct stat st;
    int seals;

    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "pages '%s' (property 'pages')", path);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, "pages '%s' (property 'pages') is not a regular "
                   "file or a socket; point pages= at pvclock-helper's "
                   "--socket or --pages", path);
        return false;
    }
    if (st.st_size < PVCP_FILE_SIZE) {
        error_setg(errp, "pages '%s' (property 'pages') is %" PRId64
                   " bytes, pvclock-pages has %d; is it pvclock-helper's?",
                   path, (int64_t)st.st_size, PVCP_FILE_SIZE);
        return false;
    }
    if (from_socket) {
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & PVCLOCK_NEED_SEALS) != PVCLOCK_NEED_SEALS) {
            error_setg(errp, "the pages memfd from '%s' (property 'pages') "
                       "is not sealed against shrinking and growing; a "
                       "truncation could crash this QEMU, so it is not "
                       "mapped", path);
            return false;
        }
    }
    return true;
}

int pvclock_source_open(PvclockPagesState *s, Error **errp)
{
    const char *path = s->pages_path;
    struct stat st;
    bool sock = stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
    int fd;

    if (sock) {
        /* the watch timer exists once realize is over */
        fd = connect_helper(path, s->watch_timer ? PVCLOCK_HANDOFF_WATCH_MS
                                                 : PVCLOCK_HANDOFF_START_MS,
                            errp);
    } else {
        /* never block: a FIFO at the path would hang until a writer */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            error_setg_errno(errp, errno, "cannot open pages '%s' (property "
                             "'pages'); is pvclock-helper running?", path);
        }
    }
    if (fd >= 0 && !check_fd(path, fd, sock, errp)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

HostMemoryBackend *pvclock_source_backend(PvclockPagesState *s, int fd,
                                          Error **errp)
{
    g_autofree char *mem_path = g_strdup_printf("/proc/self/fd/%d", fd);
    Object *obj;
    bool ok;

    /*
     * A confidential guest's accelerator registers every RAM block with
     * the kernel (SEV pins it, asking for write access), and QEMU exits
     * when a read-only mapping refuses: say so here instead.  The BAR's
     * own views are RAM devices, which SEV does not pin
     * (pvclock_readonly_host_init()); the backend's block is not.
     */
    if (MACHINE(qdev_get_machine())->cgs) {
        error_setg(errp, "pages '%s' (property 'pages'): a confidential "
                   "guest would pin the read-only pages for writing, which "
                   "the kernel refuses; pvclock-pages cannot give this VM "
                   "the host pages", pvclock_source_name(s));
        close(fd);
        return NULL;
    }
    obj = object_new(TYPE_MEMORY_BACKEND_FILE);
    ok = object_property_set_str(obj, "mem-path", mem_path, errp) &&
         object_property_set_uint(obj, "size", PVCP_FILE_SIZE, errp) &&
         object_property_set_bool(obj, "share", true, errp) &&
         object_property_set_bool(obj, "readonly", true, errp);
    if (ok) {
        object_property_add_child(OBJECT(s), "pages-source[*]", obj);
        ok = user_creatable_complete(USER_CREATABLE(obj), errp);
        if (!ok) {
            object_unparent(obj);
        }
    }
    object_unref(obj);
    close(fd);                  /* the backend opened its own */
    return ok ? MEMORY_BACKEND(obj) : NULL;
}

const char *pvclock_source_name(PvclockPagesState *s)
{
    HostMemoryBackend *be = s->host.memdev;

    return be ? object_get_canonical_path_component(OBJECT(be))
              : s->pages_path;
}

/*
 * Host memory the device shows the guest and must never write: the
 * helper's pages (a read-only mapping of its memfd) and the kernel's
 * vDSO data page (live-page.c).  To KVM it is RAM, a read-only memslot;
 * to TCG RAM too, read straight from the mapping, stores discarded.  To
 * QEMU's own writers it is a RAM device with these ops: those writers
 * pass the read-only flag (a debug write, from the gdbstub or ROM
 * loading, may write to ROM: memory_access_is_direct()) and would
 * memcpy() into the mapping and die of SIGSEGV; memory-backend-file's
 * RAM, or memory_region_init_ram_ptr(), invites exactly that.  A RAM
 * device's own ops store into the mapping too (a KVM guest's write to a
 * read-only memslot, a peer's DMA), so these replace them: reads from
 * the mapping, every write refused.  A RAM device is also what SEV does
 * not pin (sev_ram_block_added()): pinning wants write access, which a
 * read-only mapping refuses, and QEMU would exit.
 */
static uint64_t readonly_host_read(void *opaque, hwaddr addr, unsigned size)
{
    return ldn_he_p((uint8_t *)opaque + addr, size);
}

static MemTxResult readonly_host_write(void *opaque, hwaddr addr,
                                       uint64_t val, unsigned size,
                                       MemTxAttrs attrs)
{
    trace_pvclock_pages_host_write_refused(addr, size);
    return MEMTX_ERROR;
}

static const MemoryRegionOps readonly_host_ops = {
    .read = readonly_host_read,
    .write_with_attrs = readonly_host_write,
    .endianness = HOST_BIG_ENDIAN ? DEVICE_BIG_ENDIAN : DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
};

void pvclock_readonly_host_init(MemoryRegion *mr, Object *owner,
                                const char *name, uint64_t size, void *ptr)
{
    memory_region_init_ram_device_ptr(mr, owner, name, size, ptr);
    mr->ops = &readonly_host_ops;
    mr->opaque = ptr;
    memory_region_set_readonly(mr, true);
}
