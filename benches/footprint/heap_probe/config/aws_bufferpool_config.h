/* The footprint images' configuration (benches/footprint/config/). */
#include "../../config/aws_bufferpool_config.h"
