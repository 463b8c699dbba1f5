/* k_head32.c - the head kernels for the narrow width (k_head_body.h). */
#define K SSM_DM
#define HEAD_SLOT 0
#define HEAD_REGISTER ssx_head_kernels32
#include "k_head_body.h"
