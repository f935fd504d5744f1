/*
 * Tells the library how much FreeRTOS heap is free, so that a TLS connect can
 * be refused (eMQTTAgentTLSOutOfMemory) before its handshake allocates what
 * the heap cannot hold: an allocation that fails inside the handshake cannot
 * be undone. Compiled with the project's include path by cmake/AfrCloud.cmake.
 *
 * The heap functions are weak references: heap_3 (the C library's malloc) has
 * no xPortGetFreeHeapSize, and kernels before V10.2 have no vPortGetHeapStats.
 * Where they are missing the library does not know, and does not refuse.
 */
#include <stddef.h>

#include "FreeRTOS.h"
#include "task.h"

size_t xPortGetFreeHeapSize( void ) __attribute__( ( weak ) );

#if ( tskKERNEL_VERSION_MAJOR > 10 ) || ( ( tskKERNEL_VERSION_MAJOR == 10 ) && ( tskKERNEL_VERSION_MINOR >= 3 ) )
    #define afrcloudHEAP_STATS    1
    void vPortGetHeapStats( HeapStats_t * pxHeapStats ) __attribute__( ( weak ) );
#endif

/* pdTRUE with the free bytes and the largest free block (SIZE_MAX when the
 * heap cannot tell), pdFALSE when the heap says nothing. */
BaseType_t afr_cloud_heap_room( size_t * pxFree,
                                size_t * pxLargestBlock );

BaseType_t afr_cloud_heap_room( size_t * pxFree,
                                size_t * pxLargestBlock )
{
    if( xPortGetFreeHeapSize == NULL )
    {
        return pdFALSE;
    }

    *pxFree = xPortGetFreeHeapSize();
    *pxLargestBlock = ( size_t ) -1;
    #if defined( afrcloudHEAP_STATS )
        if( vPortGetHeapStats != NULL )
        {
            HeapStats_t xStats;
            vPortGetHeapStats( &xStats );
            *pxLargestBlock = xStats.xSizeOfLargestFreeBlockInBytes;
        }
    #endif
    return pdTRUE;
}
