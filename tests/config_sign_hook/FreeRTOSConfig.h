/* The demos' configuration. */
#include "../../c_demo/config/FreeRTOSConfig.h"
