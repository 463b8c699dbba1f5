/* ssm64.c - the SSM at the wide width, SSM_DM_WIDE (ssm_body.h). */
#define SSM_WIDE 1
#define SSM_FN(name) ssx_ssm64_##name
#include "ssm_body.h"
