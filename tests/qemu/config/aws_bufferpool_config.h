/* The Cortex-M4F check's configuration. */
#include "../../cortex_m/config/aws_bufferpool_config.h"
