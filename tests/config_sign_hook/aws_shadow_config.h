/* The demos' configuration. */
#include "../../c_demo/config/aws_shadow_config.h"
