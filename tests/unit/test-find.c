/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How libpvclock finds a guest's device: the pvclock-pages driver's
 * /dev/pvclock-pagesN when the driver has bound the device, sysfs
 * resource0 otherwise, and which of the two a handle went through.
 *
 * The library looks at the real /sys/bus/pci/devices and /dev, so the
 * test builds a fake of both in a tmpfs and mounts it over them in a
 * mount namespace of its own (root only; skipped otherwise).  The
 * "BARs" are image files with valid identities, which open like the
 * real thing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvclock.h"
#include "tap.h"

static char root[64];

static void put(const char *rel, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        perror(path);
        exit(1);
    }
}

static void dir(const char *rel)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if (mkdir(path, 0755) && errno != EEXIST) {
        perror(path);
        exit(1);
    }
}

/* A BAR image whose identities pvclock_open_guest() accepts. */
static void bar_image(const char *rel)
{
    static unsigned char bar[PVCP_BAR_SIZE];
    char path[512];
    FILE *f;

    memset(bar, 0, sizeof(bar));
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        struct pvcp_host_page *h = (struct pvcp_host_page *)
                                   (bar + PVCP_BAR_HOST_PAGE(i));

        h->magic = PVCP_HOST_MAGIC;
        h->abi_major = PVCP_ABI_MAJOR;
        h->page_index = i;
    }
    ((struct pvcp_offset_page *)(bar + PVCP_BAR_OFFSET_PAGE))->magic =
        PVCP_OFFSET_MAGIC;
    ((struct pvcp_offset_page *)(bar + PVCP_BAR_OFFSET_PAGE))->abi_major =
        PVCP_ABI_MAJOR;
    ((struct pvcp_offset_page *)(bar + PVCP_BAR_OFFSET_PAGE))->abi_minor =
        PVCP_ABI_MINOR;
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    f = fopen(path, "w");
    if (!f || fwrite(bar, sizeof(bar), 1, f) != 1 || fclose(f)) {
        perror(path);
        exit(1);
    }
}

/* A PCI function in the fake sysfs, with a BAR image as resource0. */
static void pci_dev(const char *bdf, const char *vendor, const char *device)
{
    char rel[128];

    snprintf(rel, sizeof(rel), "pci/%s", bdf);
    dir(rel);
    snprintf(rel, sizeof(rel), "pci/%s/vendor", bdf);
    put(rel, vendor);
    snprintf(rel, sizeof(rel), "pci/%s/device", bdf);
    put(rel, device);
    snprintf(rel, sizeof(rel), "pci/%s/resource0", bdf);
    bar_image(rel);
}

/* The driver bound bdf as node N: its class directory and /dev node. */
static void bind_node(const char *bdf, int n, int make_node)
{
    char rel[128];

    snprintf(rel, sizeof(rel), "pci/%s/pvclock-pages", bdf);
    dir(rel);
    snprintf(rel, sizeof(rel), "pci/%s/pvclock-pages/pvclock-pages%d", bdf, n);
    dir(rel);
    if (make_node) {
        snprintf(rel, sizeof(rel), "dev/pvclock-pages%d", n);
        bar_image(rel);
    }
}

static int over(const char *rel, const char *target)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    return mount(path, target, NULL, MS_BIND, NULL);
}

/* A private mount namespace with the fake sysfs and /dev in place. */
static int fake_tree(void)
{
    if (unshare(CLONE_NEWNS) ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
        return -1;
    }
    snprintf(root, sizeof(root), "/tmp/pvclock-find-XXXXXX");
    if (!mkdtemp(root) || mount("tmpfs", root, "tmpfs", 0, "size=4m")) {
        return -1;
    }
    dir("pci");
    dir("dev");
    return over("pci", "/sys/bus/pci/devices") || over("dev", "/dev")
           ? -1 : 0;
}

static int find(char *path, size_t len)
{
    return pvclock_find_device(path, len);
}

/* Open what the library finds; its mapping kind, or -1 - error. */
static int open_found(void)
{
    struct pvclock *pc;
    int err = pvclock_open_guest(&pc, NULL), m;

    if (err) {
        return -1 - err;
    }
    m = pvclock_mapping(pc);
    pvclock_close(pc);
    return m;
}

int main(void)
{
    char path[256], small[8];
    int err;

    if (geteuid() != 0) {
        return tap_skip_all("needs root (a mount namespace over /sys, /dev)");
    }
    if (fake_tree()) {
        return tap_skip_all("no mount namespace here: %s", strerror(errno));
    }

    tap_ok(find(path, sizeof(path)) == PVCLOCK_ENODEV,
           "no devices: PVCLOCK_ENODEV");
    tap_ok(open_found() == -1 - PVCLOCK_ENODEV,
           "no devices: pvclock_open_guest(NULL) says PVCLOCK_ENODEV");

    pci_dev("0000:00:02.0", "0x8086\n", "0x100e\n");
    pci_dev("0000:00:04.0", "0x1af4\n", "0x10f0\n");
    err = find(path, sizeof(path));
    tap_ok(err == PVCLOCK_OK &&
           !strcmp(path, "/sys/bus/pci/devices/0000:00:04.0/resource0"),
           "no driver: the device's resource0 (%s)", err ? "-" : path);
    tap_ok(open_found() == PVCLOCK_MAP_SYSFS,
           "no driver: the handle says PVCLOCK_MAP_SYSFS");
    tap_ok(strstr(pvclock_mapping_note(PVCLOCK_MAP_SYSFS), "root") &&
           strstr(pvclock_mapping_note(PVCLOCK_MAP_SYSFS), "lockdown") &&
           strstr(pvclock_mapping_note(PVCLOCK_MAP_SYSFS), "uncached") &&
           !*pvclock_mapping_note(PVCLOCK_MAP_DEVICE),
           "the sysfs note names what it loses, the node's is empty");

    /* bound, but devtmpfs or udev has not made the node (yet) */
    bind_node("0000:00:04.0", 3, 0);
    err = find(path, sizeof(path));
    tap_ok(err == PVCLOCK_OK && strstr(path, "/resource0"),
           "driver bound, no /dev node: resource0 still (%s)",
           err ? "-" : path);

    bind_node("0000:00:04.0", 3, 1);
    err = find(path, sizeof(path));
    tap_ok(err == PVCLOCK_OK && !strcmp(path, "/dev/pvclock-pages3"),
           "driver bound: its node, /dev/pvclock-pages3 (%s)",
           err ? "-" : path);
    tap_ok(open_found() == PVCLOCK_MAP_DEVICE,
           "driver bound: the handle says PVCLOCK_MAP_DEVICE");
    tap_ok(find(small, sizeof(small)) == PVCLOCK_EINVAL,
           "a path buffer too short: PVCLOCK_EINVAL, not a cut path");

    /* pvclock_find_pci() stays the raw BAR finder (the hammer's) */
    err = pvclock_find_pci(PVCP_PCI_VENDOR_ID, PVCP_PCI_DEVICE_ID, 0, 0,
                           path, sizeof(path));
    tap_ok(err == PVCLOCK_OK && strstr(path, "0000:00:04.0/resource0"),
           "pvclock_find_pci() still gives resource0 with the driver bound");
    err = pvclock_find_pci(0x8086, 0x100e, 0, 2, path, sizeof(path));
    tap_ok(err == PVCLOCK_OK && strstr(path, "0000:00:02.0/resource2"),
           "pvclock_find_pci() finds other IDs and BARs");
    tap_ok(pvclock_find_pci(PVCP_PCI_VENDOR_ID, PVCP_PCI_DEVICE_ID, 1, 0,
                            path, sizeof(path)) == PVCLOCK_ENODEV,
           "pvclock_find_pci() index past the last device: PVCLOCK_ENODEV");
    tap_ok(pvclock_mapping(NULL) == -1, "pvclock_mapping(NULL) is -1");
    umount2(root, MNT_DETACH);
    rmdir(root);
    return tap_done();
}
