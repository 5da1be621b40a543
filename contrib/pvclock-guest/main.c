/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest: the guest side of pvclock-pages.  main() parses the
 * options every command shares, opens the device and runs one command
 * of this build's table (commands.c):
 *
 *   pvclock-guest show             status and every clock, next to the
 *                                  guest's own clock_gettime() (show.c)
 *   pvclock-guest serve --tty DEV  answer time queries from the host over
 *                                  a serial line (serve.c, pvclock-exchange)
 *   pvclock-guest chrony --socket PATH [--interval-ms N]
 *                                  feed chronyd as a SOCK reference clock
 *                                  (chrony.c)
 *   pvclock-guest offset [--clock C] [--seconds N] [--interval-ms N]
 *                                  how far the guest's clock (or a PHC)
 *                                  is from the host's (offset.c)
 *   pvclock-guest clockbound [--shm PATH] [--interval-ms N] ...
 *                                  write AWS ClockBound's segment for
 *                                  its clients (clockbound.c)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"

static void usage(FILE *out, const char *prog)
{
    const char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;

    for (int i = 0; guest_commands[i]; i++) {
        fprintf(out, "%s %s [--resource PATH] %s%s%s\n",
                i ? "      " : "Usage:", base, guest_commands[i]->name,
                *guest_commands[i]->usage ? " " : "",
                guest_commands[i]->usage);
    }
    fprintf(out,
"Read the host's clocks through the pvclock-pages PCI device.\n"
"  --resource PATH  the device's /dev/pvclock-pagesN or sysfs resource0\n"
"                   (default: find 1af4:10f0, the driver's node first)\n");
    for (int i = 0; guest_commands[i]; i++) {
        fputs(guest_commands[i]->help, out);
    }
}

/*
 * Options may come before and after the command: getopt stops at the
 * command ("+"), and main() calls this again behind it.  0 to go on,
 * 1 after --help, -1 on a bad option.
 */
static int parse_opts(int argc, char **argv, struct guest_opts *o)
{
    static const struct option longopts[] = {
        { "resource", required_argument, NULL, 'r' },
        { "tty", required_argument, NULL, 't' },
        { "watch", no_argument, NULL, 'w' },
        { "socket", required_argument, NULL, 's' },
        { "interval-ms", required_argument, NULL, 'i' },
        { "clock", required_argument, NULL, 'c' },
        { "seconds", required_argument, NULL, 'S' },
        { "shm", required_argument, NULL, 'm' },
        { "check-ms", required_argument, NULL, 'k' },
        { "vmclock", required_argument, NULL, 'v' },
        { "set-clock", no_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            o->resource = optarg;
            break;
        case 't':
            o->tty = optarg;
            break;
        case 'w':
            o->watch = 1;
            break;
        case 's':
            o->socket = optarg;
            break;
        case 'i':
            o->interval_ms = strtol(optarg, NULL, 10);
            break;
        case 'c':
            o->clock = optarg;
            break;
        case 'S':
            o->seconds = strtol(optarg, NULL, 10);
            break;
        case 'm':
            o->shm = optarg;
            break;
        case 'k':
            o->check_ms = strtol(optarg, NULL, 10);
            break;
        case 'v':
            o->vmclock = optarg;
            break;
        case 'C':
            o->set_clock = 1;
            break;
        case 'h':
            return 1;
        default:
            return -1;
        }
    }
    return 0;
}

static const struct guest_command *find_command(const char *name)
{
    for (int i = 0; guest_commands[i]; i++) {
        if (!strcmp(guest_commands[i]->name, name)) {
            return guest_commands[i];
        }
    }
    return NULL;
}

static struct pvclock *open_device(const char *resource)
{
    struct pvclock *pc;
    int err = pvclock_open_guest(&pc, resource);

    if (err) {
        /* errno is the library's word on why PVCLOCK_EOPEN */
        fprintf(stderr, "pvclock-guest: %s%s%s\n", pvclock_strerror(err),
                err == PVCLOCK_EOPEN ? ": " : "",
                err == PVCLOCK_EOPEN ? strerror(errno) : "");
        return NULL;
    }
    if (!resource && pvclock_mapping(pc) == PVCLOCK_MAP_SYSFS) {
        fprintf(stderr, "pvclock-guest: no pvclock-pages driver bound: %s\n",
                pvclock_mapping_note(PVCLOCK_MAP_SYSFS));
    }
    return pc;
}

int main(int argc, char **argv)
{
    struct guest_opts o = { .interval_ms = 1000, .seconds = 10 };
    const struct guest_command *cmd = NULL;
    struct pvclock *pc;
    int r = parse_opts(argc, argv, &o), ret;

    if (r == 0 && optind < argc) {
        cmd = find_command(argv[optind]);
        if (!cmd) {
            fprintf(stderr, "pvclock-guest: unknown command '%s'\n",
                    argv[optind]);
        }
        optind++;
        r = cmd ? parse_opts(argc, argv, &o) : -1;
    } else if (r == 0) {
        r = -1;
    }
    if (r) {
        usage(r > 0 ? stdout : stderr, argv[0]);
        return r > 0 ? 0 : 2;
    }
    if (cmd->needs_tty && !o.tty) {
        fprintf(stderr, "pvclock-guest: %s needs --tty DEVICE\n", cmd->name);
        return 2;
    }
    pc = open_device(o.resource);
    if (!pc) {
        return 1;
    }
    ret = cmd->run(pc, &o);
    pvclock_close(pc);
    return ret;
}
