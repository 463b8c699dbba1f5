/* clones.h - plain C compiled again for wider vector units, picked by CPU.
 *
 * With contraction off and no reassociation (the package's flags) the
 * clones of a float loop compute identical bits, only wider; integer code
 * is exact in any width.
 */
#ifndef SSX_CLONES_H
#define SSX_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SSX_WIDE __attribute__((target_clones("avx2", "default")))
#define SSX_WIDER __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SSX_WIDE
#define SSX_WIDER
#endif

#endif
