/* The simulator's kernel configuration, shared with c_demo/. */
#include "../../c_demo/config/FreeRTOSConfig.h"
