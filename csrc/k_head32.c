/* k_head32.c - the head kernels for the narrow width (k_head_body.h). */
#define K SSX_HEAD_K0
#define HEAD_SLOT 0
#define HEAD_REGISTER ssx_head_kernels32
#include "k_head_body.h"
