/* ssm32.c - the SSM at the narrow width, SSM_DM (ssm_body.h). */
#define SSM_WIDE 0
#define SSM_FN(name) ssx_ssm32_##name
#include "ssm_body.h"
