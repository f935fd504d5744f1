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

/*
 * TLS hooks (mqttconfigTLS_TIME_FXN, mqttconfigTLS_RANDOM_FXN in
 * config/aws_mqtt_agent_config.h): the host's clock and its random source.
 * On a device these come from an RTC or SNTP, and from a hardware TRNG.
 */
#include <stdint.h>
#include <time.h>
#include <sys/random.h>

BaseType_t xSimTlsGetTime( uint64_t * pullUnixSeconds );
BaseType_t xSimTlsGetRandom( uint8_t * pucBuffer, size_t xLength );

/* The simulator's mqttconfigTLS_DEFAULT_ROOTS_PEM (c_demo/config): the roots a
 * TLS connect trusts when pcCertificate is NULL. Empty: the library's built-in
 * roots (Amazon's, as AFR v1.4.7). A device names a const PEM string in flash;
 * the simulator's tests copy the CA they generate at run time in here. */
char cSimDefaultRootsPem[ 8192 ] = "";

/* Tests set this to pdFALSE to play a device whose clock is not set yet. */
volatile BaseType_t xSimTlsClockKnown = pdTRUE;

BaseType_t xSimTlsGetTime( uint64_t * pullUnixSeconds )
{
    time_t xNow = time( NULL );

    if( ( xSimTlsClockKnown == pdFALSE ) || ( xNow == ( time_t ) -1 ) )
    {
        return pdFALSE;
    }

    *pullUnixSeconds = ( uint64_t ) xNow;
    return pdTRUE;
}

BaseType_t xSimTlsGetRandom( uint8_t * pucBuffer, size_t xLength )
{
    size_t xDone = 0;

    while( xDone < xLength )
    {
        ssize_t xGot = getrandom( pucBuffer + xDone, xLength - xDone, 0 );

        if( xGot <= 0 )
        {
            return pdFALSE;
        }

        xDone += ( size_t ) xGot;
    }

    return pdTRUE;
}
