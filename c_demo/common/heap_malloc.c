/*
 * The FreeRTOS heap on the host's malloc(), for the sanitizer build of the
 * simulator (cmake/AfrSanitize.cmake selects it; normal builds keep heap_4).
 *
 * Why not heap_4 there: heap_4 carves every allocation out of one static
 * array, ucHeap[configTOTAL_HEAP_SIZE]. AddressSanitizer sees that array as a
 * single valid object, so a write past the end of one allocation into the next
 * block (or into heap_4's own block headers) goes unnoticed, as does a use after
 * vPortFree(). With each allocation a malloc() block of its own, ASan puts
 * redzones around it and quarantines it after free: C code that overruns a
 * buffer the library (or the kernel) handed out is caught at the access.
 *
 * Why not plain heap_3: the tests read the heap's figures (free bytes, the
 * minimum ever, vPortGetHeapStats' allocation counts) to prove that nothing
 * leaks and that messages cost no allocation, and heap_3 has none of those
 * functions. This file keeps heap_4's accounting contract: the free size is
 * configTOTAL_HEAP_SIZE minus the bytes of the blocks in use (as
 * malloc_usable_size() reports them; under ASan that is the size asked for),
 * so "free size before == free size after" still means "everything came back".
 * A request beyond configTOTAL_HEAP_SIZE fails as it would on the device.
 * What it cannot reproduce: heap_4's per-block overhead and fragmentation, so
 * absolute figures differ from the normal build's.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#if ( configSUPPORT_DYNAMIC_ALLOCATION == 0 )
    #error This heap needs configSUPPORT_DYNAMIC_ALLOCATION 1
#endif

/* All guarded by vTaskSuspendAll(): no other task runs while they change,
 * which is also what keeps a task from being switched out inside malloc(). */
static size_t xBytesInUse = 0;
static size_t xMaxBytesInUse = 0;
static size_t xAllocations = 0;
static size_t xFrees = 0;

void * pvPortMalloc( size_t xWantedSize )
{
    void * pvReturn = NULL;

    vTaskSuspendAll();
    {
        if( xWantedSize <= configTOTAL_HEAP_SIZE - xBytesInUse )
        {
            pvReturn = malloc( xWantedSize );
        }

        if( pvReturn != NULL )
        {
            size_t xUsable = malloc_usable_size( pvReturn );

            if( xUsable > configTOTAL_HEAP_SIZE - xBytesInUse )
            {
                /* Rounded up by malloc beyond the budget: refuse as heap_4 would. */
                free( pvReturn );
                pvReturn = NULL;
            }
            else
            {
                xBytesInUse += xUsable;
                xAllocations++;

                if( xBytesInUse > xMaxBytesInUse )
                {
                    xMaxBytesInUse = xBytesInUse;
                }
            }
        }

        traceMALLOC( pvReturn, xWantedSize );
    }
    ( void ) xTaskResumeAll();

    #if ( configUSE_MALLOC_FAILED_HOOK == 1 )
    {
        if( pvReturn == NULL )
        {
            vApplicationMallocFailedHook();
        }
    }
    #endif

    return pvReturn;
}

void * pvPortCalloc( size_t xNum,
                     size_t xSize )
{
    void * pv = NULL;

    if( ( xSize == 0 ) || ( xNum <= ( ( size_t ) -1 ) / xSize ) )
    {
        pv = pvPortMalloc( xNum * xSize );

        if( pv != NULL )
        {
            memset( pv, 0, xNum * xSize );
        }
    }

    return pv;
}

void vPortFree( void * pv )
{
    if( pv != NULL )
    {
        vTaskSuspendAll();
        {
            xBytesInUse -= malloc_usable_size( pv );
            xFrees++;
            free( pv );
            traceFREE( pv, 0 );
        }
        ( void ) xTaskResumeAll();
    }
}

size_t xPortGetFreeHeapSize( void )
{
    return configTOTAL_HEAP_SIZE - xBytesInUse;
}

size_t xPortGetMinimumEverFreeHeapSize( void )
{
    return configTOTAL_HEAP_SIZE - xMaxBytesInUse;
}

void xPortResetHeapMinimumEverFreeHeapSize( void )
{
    vTaskSuspendAll();
    xMaxBytesInUse = xBytesInUse;
    ( void ) xTaskResumeAll();
}

void vPortInitialiseBlocks( void )
{
}

void vPortGetHeapStats( HeapStats_t * pxHeapStats )
{
    vTaskSuspendAll();
    {
        size_t xFree = configTOTAL_HEAP_SIZE - xBytesInUse;

        /* One free "block": the budget left (malloc has no fragmentation to report). */
        pxHeapStats->xAvailableHeapSpaceInBytes = xFree;
        pxHeapStats->xSizeOfLargestFreeBlockInBytes = xFree;
        pxHeapStats->xSizeOfSmallestFreeBlockInBytes = xFree;
        pxHeapStats->xNumberOfFreeBlocks = ( xFree > 0 ) ? 1 : 0;
        pxHeapStats->xMinimumEverFreeBytesRemaining = configTOTAL_HEAP_SIZE - xMaxBytesInUse;
        pxHeapStats->xNumberOfSuccessfulAllocations = xAllocations;
        pxHeapStats->xNumberOfSuccessfulFrees = xFrees;
    }
    ( void ) xTaskResumeAll();
}

void vPortHeapResetState( void )
{
    xBytesInUse = 0;
    xMaxBytesInUse = 0;
    xAllocations = 0;
    xFrees = 0;
}
