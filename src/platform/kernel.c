/* Kernel calls made in C: the waits on the library's event lists, and
 * configASSERT, through the project's own macros. Compiled by build.rs
 * against the project's headers. */
#include "FreeRTOS.h"
#include "task.h"

/* The agent's waits (src/platform/agent_task): tasks blocked on event lists
 * of its own with the kernel functions a queue blocks and wakes with, which
 * every image links already, rather than on task notifications
 * (xTaskGenericNotify and ulTaskGenericNotifyTake, ~480 bytes). A wake-up
 * reaches every task blocked on the list; each looks at what it waits for
 * (under the scheduler suspension it blocked in) and blocks again. Only
 * tasks touch these lists (never an interrupt handler), so the scheduler's
 * suspension keeps them consistent, as a queue's lock does its lists. */
static List_t xAfrLists[ 3 ];

void afr_lists_init( void )
{
    vListInitialise( &xAfrLists[ 0 ] );
    vListInitialise( &xAfrLists[ 1 ] );
    vListInitialise( &xAfrLists[ 2 ] );
}

/* Called with the scheduler suspended (once) by the calling task: blocks it
 * on list uxList for at most xTicks (portMAX_DELAY: until woken), and ends
 * that suspension, as xQueueReceive and vTaskDelay do. */
void afr_block( UBaseType_t uxList, TickType_t xTicks )
{
    vTaskPlaceOnEventList( &xAfrLists[ uxList ], xTicks );

    if( xTaskResumeAll() == pdFALSE )
    {
        /* The yield itself: vTaskDelay( 0 ) does nothing else. (Its call is
         * smaller than the port's yield sequence, which it holds already.) */
        vTaskDelay( 0 );
    }
}

/* Wakes every task blocked on list uxList (from a task, the scheduler
 * suspended or not). The removals in a critical section, as a queue's: the
 * tick interrupt removes a task whose time is up from its event list, and
 * interrupts ready tasks through the pending-ready list; the scheduler
 * suspended around it, so that xTaskResumeAll readies the tasks and yields
 * to a higher-priority one (one yield, not one each). An empty list is left
 * alone: a task blocks only after it looked, suspended, at what it waits
 * for, which its waker changed before it wakes the list. */
void afr_wake( UBaseType_t uxList )
{
    List_t * const pxList = &xAfrLists[ uxList ];

    if( listLIST_IS_EMPTY( pxList ) == pdFALSE )
    {
        vTaskSuspendAll();
        taskENTER_CRITICAL();

        while( listLIST_IS_EMPTY( pxList ) == pdFALSE )
        {
            ( void ) xTaskRemoveFromEventList( pxList );
        }

        taskEXIT_CRITICAL();
        ( void ) xTaskResumeAll();
    }
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
