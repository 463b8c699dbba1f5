/* k_head64.c - the head kernels for the wide width (k_head_body.h). */
#define K SSM_DM_WIDE
#define HEAD_SLOT 1
#define HEAD_REGISTER ssx_head_kernels64
#include "k_head_body.h"
