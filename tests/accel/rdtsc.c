/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Print the host TSC (ordered after earlier instructions), for tests. */
#include <inttypes.h>
#include <stdio.h>

#include "pvclock-pages/pvclock-pages-cpu.h"

int main(void)
{
    printf("%" PRIu64 "\n",
           pvcp_counter_read(pvcp_counter_order_detect()));
    return 0;
}
