/* The demos' shadow configuration (the benchmark does not use shadows). */
#include "../../../c_demo/config/aws_shadow_config.h"
