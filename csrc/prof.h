#ifndef SSX_PROF_H
#define SSX_PROF_H
#include <time.h>
#include <stdio.h>
#ifdef SSX_PROF
extern double ssx_prof_t[24];
static inline double ssx_now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define PROF_BEGIN double _pt = ssx_now()
#define PROF_MARK(i) do { double _n = ssx_now(); ssx_prof_t[i] += _n - _pt; _pt = _n; } while (0)
#else
#define PROF_BEGIN
#define PROF_MARK(i)
#endif
#endif
