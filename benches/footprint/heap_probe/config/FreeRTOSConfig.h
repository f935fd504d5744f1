/* The heap probe runs on the FreeRTOS POSIX simulator: the simulator demos'
 * kernel configuration, with the footprint images' AFR configuration
 * (aws_*_config.h beside this file). */
#include "../../../../c_demo/config/FreeRTOSConfig.h"
