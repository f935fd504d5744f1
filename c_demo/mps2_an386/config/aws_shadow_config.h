/* The board runs the demos' configuration unchanged. */
#include "../../config/aws_shadow_config.h"
