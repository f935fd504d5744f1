/* The demos' pool: 8 buffers, so that one lost buffer shows at once. */
#include "../../c_demo/config/aws_bufferpool_config.h"
