/* The Cortex-M4F check's kernel configuration, on QEMU's MPS2 AN386 board
 * (25 MHz system clock, 4 MB of RAM at 0x20000000). */
#include "../../cortex_m/config/FreeRTOSConfig.h"
#undef configCPU_CLOCK_HZ
#define configCPU_CLOCK_HZ       ( 25000000UL )
#undef configTOTAL_HEAP_SIZE
#define configTOTAL_HEAP_SIZE    ( ( size_t ) ( 256 * 1024 ) )
