/* The demos' configuration. */
#include "../../c_demo/config/aws_bufferpool_config.h"
