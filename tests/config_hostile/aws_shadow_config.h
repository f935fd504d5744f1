/* The demos' shadow limits. */
#include "../../c_demo/config/aws_shadow_config.h"
