/* pages.c - see pages.h. */
#define _DEFAULT_SOURCE
#include <stdint.h>

#include "pages.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((uintptr_t)SSX_HUGE_PAGE)

void ssx_pages_huge(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* only the whole huge pages inside the block (large blocks are mapped
     * on their own, so advising them touches no one else's memory) */
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uintptr_t b = ((uintptr_t)p + bytes) & ~(HUGE_PAGE - 1);
    if (p && b > a) (void)madvise((void *)a, (size_t)(b - a), MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}
