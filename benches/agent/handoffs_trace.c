/*
 * Hand-off counters (see handoffs.h): their storage, the kernel's trace hooks
 * and the counting half of the link-time wrappers. Compiled into the
 * benchmark build's kernel library (benches/agent/CMakeLists.txt).
 */
#include "FreeRTOS.h"
#include "task.h"

#include "handoffs.h"

static HandoffCounts_t xCounts;
static void * pvLastTask; /* the task switched in last */

#define COUNT( x )    ( void ) __atomic_fetch_add( &( x ), 1U, __ATOMIC_RELAXED )
#define READ( x )     __atomic_load_n( &( x ), __ATOMIC_RELAXED )

/* pvTask's slot, claimed on first use (compare-and-swap: a tick signal may
 * switch tasks in the middle of a claim); -1 for no task or a full table. */
static int prvSlot( void * pvTask )
{
    if( pvTask == NULL )
    {
        return -1;
    }

    for( int i = 0; i < HANDOFF_MAX_TASKS; i++ )
    {
        void * pvSlot = READ( xCounts.xTasks[ i ].pvTask );

        if( pvSlot == NULL )
        {
            void * pvExpected = NULL;

            if( __atomic_compare_exchange_n( &xCounts.xTasks[ i ].pvTask, &pvExpected, pvTask, 0,
                                             __ATOMIC_RELAXED, __ATOMIC_RELAXED ) )
            {
                return i;
            }

            pvSlot = pvExpected;
        }

        if( pvSlot == pvTask )
        {
            return i;
        }
    }

    return -1;
}

/* Called by vTaskSwitchContext (and once when the scheduler starts), with the
 * scheduler's lock held: one caller at a time. */
void vHandoffTraceSwitchedIn( void * pvTask )
{
    COUNT( xCounts.ulSwitchesTotal );

    if( pvTask != pvLastTask )
    {
        int i = prvSlot( pvTask );

        pvLastTask = pvTask;
        COUNT( xCounts.ulSwitchesChanged );

        if( i >= 0 )
        {
            COUNT( xCounts.xTasks[ i ].ulSwitchedIn );
        }
    }
}

void vHandoffTraceSuspendAll( void * pvTask )
{
    int i = prvSlot( pvTask );

    COUNT( xCounts.ulSuspendAll );

    if( i >= 0 )
    {
        COUNT( xCounts.xTasks[ i ].ulSuspendAll );
    }
}

void vHandoffTraceTick( void )
{
    COUNT( xCounts.ulTicks );
}

void vHandoffCountCritical( void )
{
    int i = prvSlot( ( void * ) xTaskGetCurrentTaskHandle() );

    COUNT( xCounts.ulCritical );

    if( i >= 0 )
    {
        COUNT( xCounts.xTasks[ i ].ulCritical );
    }
}

void vHandoffCountCriticalFromIsr( void )
{
    COUNT( xCounts.ulCriticalFromIsr );
}

void vHandoffCountYield( void )
{
    int i = prvSlot( ( void * ) xTaskGetCurrentTaskHandle() );

    COUNT( xCounts.ulYields );

    if( i >= 0 )
    {
        COUNT( xCounts.xTasks[ i ].ulYields );
    }
}

void vHandoffSnapshot( HandoffCounts_t * pxOut )
{
    pxOut->ulCritical = READ( xCounts.ulCritical );
    pxOut->ulCriticalFromIsr = READ( xCounts.ulCriticalFromIsr );
    pxOut->ulSuspendAll = READ( xCounts.ulSuspendAll );
    pxOut->ulYields = READ( xCounts.ulYields );
    pxOut->ulSwitchesTotal = READ( xCounts.ulSwitchesTotal );
    pxOut->ulSwitchesChanged = READ( xCounts.ulSwitchesChanged );
    pxOut->ulTicks = READ( xCounts.ulTicks );

    for( int i = 0; i < HANDOFF_MAX_TASKS; i++ )
    {
        pxOut->xTasks[ i ].pvTask = READ( xCounts.xTasks[ i ].pvTask );
        pxOut->xTasks[ i ].ulSwitchedIn = READ( xCounts.xTasks[ i ].ulSwitchedIn );
        pxOut->xTasks[ i ].ulCritical = READ( xCounts.xTasks[ i ].ulCritical );
        pxOut->xTasks[ i ].ulSuspendAll = READ( xCounts.xTasks[ i ].ulSuspendAll );
        pxOut->xTasks[ i ].ulYields = READ( xCounts.xTasks[ i ].ulYields );
    }
}

int iHandoffTaskSlot( const HandoffCounts_t * pxCounts,
                      const void * pvTask )
{
    for( int i = 0; ( pvTask != NULL ) && ( i < HANDOFF_MAX_TASKS ); i++ )
    {
        if( pxCounts->xTasks[ i ].pvTask == pvTask )
        {
            return i;
        }
    }

    return -1;
}
