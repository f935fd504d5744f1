/*
 * FreeRTOS configuration of the footprint images: the same ARM_CM4F
 * configuration as tests/cortex_m (a typical AFR MCU project's). Both images of
 * a comparison (with and without the library) use it, so its kernel cost
 * cancels out.
 */
#include "../../../tests/cortex_m/config/FreeRTOSConfig.h"
