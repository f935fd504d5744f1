/* The simulator's kernel configuration, shared with c_demo/ (the kernel library
 * of the benchmark is built from c_demo's config: keep them identical). */
#include "../../../c_demo/config/FreeRTOSConfig.h"
