/* pages.h - ask for huge pages under large, randomly accessed tables. */
#ifndef SSX_PAGES_H
#define SSX_PAGES_H

#include <stddef.h>

#define SSX_HUGE_PAGE ((size_t)2 << 20)

/* Advise the kernel to back [p, p + bytes) with transparent huge pages
 * (Linux, where the system leaves it to madvise).  The hashed tables are
 * read at random; with 4 KiB pages nearly every read misses the TLB.  Only
 * a hint: the contents and the output do not depend on it. */
void ssx_pages_huge(void *p, size_t bytes);

#endif
