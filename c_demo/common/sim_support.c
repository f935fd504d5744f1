/*
 * Hooks every FreeRTOS POSIX simulator program of c_demo/ and tests/ needs.
 */
#include <stdio.h>
#include <stdlib.h>

#include "FreeRTOS.h"
#include "task.h"

/* configASSERT: fail loudly; in the simulator a stuck assert would hang a test. */
void vAssertCalled( const char * pcFile, unsigned long ulLine )
{
    fprintf( stderr, "ASSERT failed: %s:%lu\n", pcFile, ulLine );
    fflush( stderr );
    abort();
}
