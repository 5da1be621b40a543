/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The running kernel's vDSO as a test oracle.  See vdso-oracle.h.
 */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#include "vdso-oracle.h"
#include "vvar.h"

struct mapping {
    uintptr_t start, end;
};

static int find_mapping(const char *name, struct mapping *m)
{
    char line[512];
    FILE *f = fopen("/proc/self/maps", "re");
    size_t nlen = strlen(name);

    m->start = m->end = 0;
    if (!f) {
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *p = strrchr(line, ' ');

        if (p && !strncmp(p + 1, name, nlen) && p[1 + nlen] == '\n') {
            sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &m->start, &m->end);
            break;
        }
    }
    fclose(f);
    return m->start ? 0 : -1;
}

/* Offset of a dynamic symbol from the start of the vDSO image. */
static long vdso_symbol(const uint8_t *image, const char *name)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)image;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(image + eh->e_shoff);
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(image + eh->e_phoff);
    uint64_t load_vaddr = 0;

    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD) {
            load_vaddr = ph[i].p_vaddr - ph[i].p_offset;
            break;
        }
    }
    for (int i = 0; i < eh->e_shnum; i++) {
        const Elf64_Sym *sym;
        const char *str;
        size_t n;

        if (sh[i].sh_type != SHT_DYNSYM) {
            continue;
        }
        sym = (const Elf64_Sym *)(image + sh[i].sh_offset);
        str = (const char *)(image + sh[sh[i].sh_link].sh_offset);
        n = sh[i].sh_size / sizeof(*sym);
        for (size_t j = 0; j < n; j++) {
            if (sym[j].st_name && !strcmp(str + sym[j].st_name, name) &&
                sym[j].st_shndx != SHN_UNDEF) {
                return (long)(sym[j].st_value - load_vaddr);
            }
        }
    }
    return -1;
}

int vdso_oracle_init(struct vdso_oracle *o, const struct vvar_source *live,
                     char *err, size_t errlen)
{
    struct mapping vvar, vdso, vclock;
    const uint8_t *image = (const uint8_t *)getauxval(AT_SYSINFO_EHDR);
    long sym;
    int have_vclock;

    memset(o, 0, sizeof(*o));
    if (!image || find_mapping("[vdso]", &vdso) < 0 ||
        find_mapping("[vvar]", &vvar) < 0 ||
        (uintptr_t)image != vdso.start) {
        snprintf(err, errlen, "no vDSO mapping found");
        return -1;
    }
    have_vclock = find_mapping("[vvar_vclock]", &vclock) == 0;
    if (vvar.start > vdso.start) {
        snprintf(err, errlen, "vvar is not below the vDSO");
        return -1;
    }
    sym = vdso_symbol(image, "__vdso_clock_gettime");
    if (sym < 0) {
        snprintf(err, errlen, "__vdso_clock_gettime not in the vDSO");
        return -1;
    }

    o->region_len = vdso.end - vvar.start;
    o->region = mmap(NULL, o->region_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (o->region == MAP_FAILED) {
        snprintf(err, errlen, "mmap failed");
        return -1;
    }
    memcpy(o->region + (vdso.start - vvar.start), image,
           vdso.end - vdso.start);
    if (mprotect(o->region + (vdso.start - vvar.start),
                 vdso.end - vdso.start, PROT_READ | PROT_EXEC) < 0) {
        snprintf(err, errlen, "cannot make the vDSO copy executable");
        munmap(o->region, o->region_len);
        return -1;
    }
    o->vvar = o->region;
    o->layout = live->layout;
    o->pvclock = have_vclock ? o->region + (vclock.start - vvar.start)
                             : o->region + live->layout->vclock_offset;
    o->gettime = (int (*)(clockid_t, struct timespec *))
                 (void *)(o->region + (vdso.start - vvar.start) + sym);
    return 0;
}

int vdso_oracle_gettime(struct vdso_oracle *o, const struct host_snapshot *s,
                        clockid_t clk, struct timespec *ts)
{
    struct host_snapshot k = *s;

    k.seq = 2;
    k.clock_mode = VVAR_CLOCKMODE_PVCLOCK;
    vvar_put_snapshot(o->layout, o->vvar, o->pvclock, &k);
    return o->gettime(clk, ts);
}

void vdso_oracle_fini(struct vdso_oracle *o)
{
    if (o->region) {
        munmap(o->region, o->region_len);
    }
    memset(o, 0, sizeof(*o));
}
