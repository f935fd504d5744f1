/* The board runs the demos' configuration unchanged. */
#include "../../config/aws_bufferpool_config.h"
