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
