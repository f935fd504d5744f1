/* The kernel calls whose form differs between FreeRTOS versions, through the
 * project's own macros (the index argument of the notification calls came
 * with v10.4). Each is a tail call: smaller than freertos-rust's shim
 * wrappers, which translate an action code and a return value the library
 * does not need. Compiled by build.rs against the project's headers. */
#include "FreeRTOS.h"
#include "task.h"

void afr_notify_give( TaskHandle_t xTask )
{
    ( void ) xTaskNotifyGive( xTask );
}

uint32_t afr_notify_take( TickType_t xTicksToWait )
{
    return ulTaskNotifyTake( pdTRUE, xTicksToWait );
}

/* The Rust panic handler's way to the project's configASSERT (its __FILE__
 * is this file's name: build.rs maps the directory away). */
void afr_assert_failed( void )
{
    configASSERT( 0 );
}

#if defined( __ARM_EABI__ )
#include <string.h>

/* LLVM lowers the Rust code's zeroing to __aeabi_memclr; newlib-nano's is a
 * second copy of memset (~160 bytes) beside the one the application already
 * links. Here it is a tail call to that memset. Weak, so that a toolchain's
 * own definition, if it is linked anyway, wins without a clash; defined, so
 * that the linker does not pull newlib's. */
__attribute__( ( weak ) ) void __aeabi_memclr( void * pvDest, size_t xLength )
{
    ( void ) memset( pvDest, 0, xLength );
}
__attribute__( ( weak, alias( "__aeabi_memclr" ) ) ) void __aeabi_memclr4( void * pvDest, size_t xLength );
__attribute__( ( weak, alias( "__aeabi_memclr" ) ) ) void __aeabi_memclr8( void * pvDest, size_t xLength );
#endif
