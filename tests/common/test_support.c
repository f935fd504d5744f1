/*
 * Support for C integration tests under the FreeRTOS POSIX simulator: see
 * test_support.h. Only quick system calls (open/read/write/rename/unlink on a
 * local directory) are made; waiting is done with vTaskDelay().
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "FreeRTOS.h"
#include "task.h"

#include "test_support.h"

/* ---- environment ---- */

static uint16_t prvPortFromEnv( const char * pcName )
{
    const char * pcValue = getenv( pcName );
    char * pcEnd = NULL;
    unsigned long ulPort;

    if( ( pcValue == NULL ) || ( *pcValue == '\0' ) )
    {
        fprintf( stderr,
                 "test_support: %s is not set. Run this program through "
                 "tests/tools/run_with_broker.py (ctest does; the relay needs "
                 "--relay, the fake server --fake).\n", pcName );
        fflush( stderr );
        exit( 2 );
    }

    errno = 0;
    ulPort = strtoul( pcValue, &pcEnd, 10 );

    if( ( errno != 0 ) || ( pcEnd == pcValue ) || ( *pcEnd != '\0' ) ||
        ( ulPort == 0UL ) || ( ulPort > 65535UL ) )
    {
        fprintf( stderr, "test_support: %s=\"%s\" is not a port number\n", pcName, pcValue );
        fflush( stderr );
        exit( 2 );
    }

    return ( uint16_t ) ulPort;
}

uint16_t usTestBrokerPort( void )
{
    return prvPortFromEnv( "AFR_TEST_BROKER_PORT" );
}

uint16_t usTestRelayPort( void )
{
    return prvPortFromEnv( "AFR_TEST_RELAY_PORT" );
}

uint16_t usTestFakePort( void )
{
    return prvPortFromEnv( "AFR_TEST_FAKE_PORT" );
}

uint16_t usTestPortFromEnv( const char * pcName )
{
    return prvPortFromEnv( pcName );
}

/* ---- control channel ---- */

#define testPATH_MAX    512

static uint32_t ulControlSeq = 0;

static BaseType_t prvWriteAll( int lFd, const char * pcData, size_t xLength )
{
    while( xLength > 0U )
    {
        ssize_t xN = write( lFd, pcData, xLength );

        if( xN < 0 )
        {
            if( errno == EINTR )
            {
                continue;
            }

            return pdFAIL;
        }

        pcData += xN;
        xLength -= ( size_t ) xN;
    }

    return pdPASS;
}

/* Writes the request file atomically (tmp + rename). */
static BaseType_t prvWriteRequest( const char * pcDir, uint32_t ulSeq, const char * pcCommand )
{
    char cTmp[ testPATH_MAX ];
    char cReq[ testPATH_MAX ];
    int lFd;
    BaseType_t xOk;
    int lRc;

    if( ( snprintf( cTmp, sizeof( cTmp ), "%s/req.%lu.tmp", pcDir, ( unsigned long ) ulSeq ) >= ( int ) sizeof( cTmp ) ) ||
        ( snprintf( cReq, sizeof( cReq ), "%s/req.%lu", pcDir, ( unsigned long ) ulSeq ) >= ( int ) sizeof( cReq ) ) )
    {
        return pdFAIL;
    }

    do
    {
        lFd = open( cTmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644 );
    } while( ( lFd < 0 ) && ( errno == EINTR ) );

    if( lFd < 0 )
    {
        return pdFAIL;
    }

    xOk = prvWriteAll( lFd, pcCommand, strlen( pcCommand ) );

    if( xOk == pdPASS )
    {
        xOk = prvWriteAll( lFd, "\n", 1 );
    }

    ( void ) close( lFd );

    if( xOk == pdPASS )
    {
        do
        {
            lRc = rename( cTmp, cReq );
        } while( ( lRc != 0 ) && ( errno == EINTR ) );

        xOk = ( lRc == 0 ) ? pdPASS : pdFAIL;
    }

    if( xOk != pdPASS )
    {
        ( void ) unlink( cTmp );
    }

    return xOk;
}

/* Reads an ack file: the first line into pcStatus, the rest into pcResult. */
static BaseType_t prvReadAck( int lFd,
                              char * pcStatus,
                              size_t xStatusSize,
                              char * pcResult,
                              size_t xResultSize )
{
    char cChunk[ 256 ];
    size_t xStatusLen = 0;
    size_t xResultLen = 0;
    BaseType_t xInStatus = pdTRUE;

    for( ; ; )
    {
        ssize_t xN = read( lFd, cChunk, sizeof( cChunk ) );

        if( xN < 0 )
        {
            if( errno == EINTR )
            {
                continue;
            }

            return pdFAIL;
        }

        if( xN == 0 )
        {
            break;
        }

        for( ssize_t i = 0; i < xN; i++ )
        {
            char c = cChunk[ i ];

            if( xInStatus == pdTRUE )
            {
                if( c == '\n' )
                {
                    xInStatus = pdFALSE;
                }
                else if( xStatusLen + 1U < xStatusSize )
                {
                    pcStatus[ xStatusLen++ ] = c;
                }
            }
            else if( ( pcResult != NULL ) && ( xResultLen + 1U < xResultSize ) )
            {
                pcResult[ xResultLen++ ] = c;
            }
        }
    }

    pcStatus[ xStatusLen ] = '\0';

    if( ( pcResult != NULL ) && ( xResultSize > 0U ) )
    {
        /* Drop the final newline. */
        if( ( xResultLen > 0U ) && ( pcResult[ xResultLen - 1U ] == '\n' ) )
        {
            xResultLen--;
        }

        pcResult[ xResultLen ] = '\0';
    }

    return pdPASS;
}

BaseType_t xTestControl( const char * pcCommand,
                         char * pcResult,
                         size_t xResultSize,
                         TickType_t xTimeoutTicks )
{
    const char * pcDir = getenv( "AFR_TEST_CTL_DIR" );
    char cAck[ testPATH_MAX ];
    char cStatus[ 512 ];
    uint32_t ulSeq;
    TickType_t xStart;
    int lFd = -1;

    if( ( pcResult != NULL ) && ( xResultSize > 0U ) )
    {
        pcResult[ 0 ] = '\0';
    }

    if( ( pcDir == NULL ) || ( *pcDir == '\0' ) )
    {
        fprintf( stderr,
                 "test_support: AFR_TEST_CTL_DIR is not set. Run this program "
                 "through tests/tools/run_with_broker.py.\n" );
        fflush( stderr );
        exit( 2 );
    }

    if( ( pcCommand == NULL ) || ( strchr( pcCommand, '\n' ) != NULL ) )
    {
        printf( "xTestControl: invalid command\n" );
        fflush( stdout );
        return pdFAIL;
    }

    taskENTER_CRITICAL();
    ulSeq = ++ulControlSeq;
    taskEXIT_CRITICAL();

    if( ( snprintf( cAck, sizeof( cAck ), "%s/ack.%lu", pcDir, ( unsigned long ) ulSeq ) >= ( int ) sizeof( cAck ) ) ||
        ( prvWriteRequest( pcDir, ulSeq, pcCommand ) != pdPASS ) )
    {
        printf( "xTestControl(\"%s\"): cannot write the request in %s (errno %d)\n",
                pcCommand, pcDir, errno );
        fflush( stdout );
        return pdFAIL;
    }

    xStart = xTaskGetTickCount();

    for( ; ; )
    {
        lFd = open( cAck, O_RDONLY | O_CLOEXEC );

        if( lFd >= 0 )
        {
            break;
        }

        if( ( errno != ENOENT ) && ( errno != EINTR ) )
        {
            printf( "xTestControl(\"%s\"): cannot open %s (errno %d)\n", pcCommand, cAck, errno );
            fflush( stdout );
            return pdFAIL;
        }

        if( ( xTaskGetTickCount() - xStart ) >= xTimeoutTicks )
        {
            printf( "xTestControl(\"%s\"): no answer within %lu ticks\n",
                    pcCommand, ( unsigned long ) xTimeoutTicks );
            fflush( stdout );
            return pdFAIL;
        }

        vTaskDelay( 1 );
    }

    if( prvReadAck( lFd, cStatus, sizeof( cStatus ), pcResult, xResultSize ) != pdPASS )
    {
        ( void ) close( lFd );
        printf( "xTestControl(\"%s\"): cannot read %s (errno %d)\n", pcCommand, cAck, errno );
        fflush( stdout );
        return pdFAIL;
    }

    ( void ) close( lFd );
    ( void ) unlink( cAck );

    if( strcmp( cStatus, "ok" ) == 0 )
    {
        return pdPASS;
    }

    printf( "xTestControl(\"%s\"): %s\n", pcCommand, cStatus );
    fflush( stdout );

    if( ( pcResult != NULL ) && ( xResultSize > 0U ) )
    {
        snprintf( pcResult, xResultSize, "%s", cStatus );
    }

    return pdFAIL;
}

/* ---- assertion kit ---- */

static jmp_buf xCaseJmp;
static TaskHandle_t xRunnerTask = NULL;
static const char * volatile pcCurrentCase = NULL;
static volatile uint32_t ulCurrentFailures = 0;
static volatile uint32_t ulOutsideFailures = 0;
static volatile uint32_t ulCasesPassed = 0;
static volatile uint32_t ulCasesFailed = 0;
static volatile BaseType_t xFinishing = pdFALSE;
static TickType_t xWatchdogTicks = 0;

static void prvRecordFailure( void )
{
    taskENTER_CRITICAL();

    if( pcCurrentCase != NULL )
    {
        ulCurrentFailures++;
    }
    else
    {
        ulOutsideFailures++;
    }

    taskEXIT_CRITICAL();
}

/* Prints the final line; a case in progress counts as failed if xFailCurrent. */
__attribute__( ( noreturn ) ) static void prvSummaryAndExit( BaseType_t xFailCurrent )
{
    uint32_t ulFailed = ulCasesFailed;

    if( ( xFailCurrent == pdTRUE ) && ( pcCurrentCase != NULL ) )
    {
        printf( "--- FAIL %s\n", pcCurrentCase );
        ulFailed++;
    }

    if( ulOutsideFailures > 0U )
    {
        printf( "%lu failure(s) outside test cases\n", ( unsigned long ) ulOutsideFailures );
        ulFailed++;
    }

    printf( "%lu passed, %lu failed\n", ( unsigned long ) ulCasesPassed, ( unsigned long ) ulFailed );
    fflush( stdout );
    fflush( stderr );
    exit( ( ulFailed > 0U ) ? 1 : 0 );
}

void vTestNote( const char * pcFormat, ... )
{
    char cLine[ 512 ];
    va_list xArgs;

    va_start( xArgs, pcFormat );
    ( void ) vsnprintf( cLine, sizeof( cLine ), pcFormat, xArgs );
    va_end( xArgs );
    printf( "    note: %s\n", cLine );
    fflush( stdout );
}

void vTestCheckFailed( const char * pcFile, int lLine, const char * pcCond )
{
    prvRecordFailure();
    printf( "%s:%d: CHECK failed: %s\n", pcFile, lLine, pcCond );
    fflush( stdout );
}

void vTestAssertFailed( const char * pcFile, int lLine, const char * pcCond )
{
    prvRecordFailure();
    printf( "%s:%d: ASSERT failed: %s\n", pcFile, lLine, pcCond );
    fflush( stdout );

    if( ( pcCurrentCase != NULL ) && ( xRunnerTask != NULL ) &&
        ( xTaskGetCurrentTaskHandle() == xRunnerTask ) )
    {
        longjmp( xCaseJmp, 1 );
    }

    printf( "ASSERT failed outside the test-case task: ending the program\n" );
    xFinishing = pdTRUE;
    prvSummaryAndExit( pdTRUE );
}

uint32_t ulTestCaseFailures( void )
{
    return ( pcCurrentCase != NULL ) ? ulCurrentFailures : ulOutsideFailures;
}

void vTestRun( const char * pcName, void ( * pvCase )( void ) )
{
    xRunnerTask = xTaskGetCurrentTaskHandle();
    ulCurrentFailures = 0;
    printf( "=== RUN %s\n", pcName );
    fflush( stdout );
    pcCurrentCase = pcName;

    if( setjmp( xCaseJmp ) == 0 )
    {
        pvCase();
    }

    pcCurrentCase = NULL;

    if( ulCurrentFailures == 0U )
    {
        ulCasesPassed++;
        printf( "--- PASS %s\n", pcName );
    }
    else
    {
        ulCasesFailed++;
        printf( "--- FAIL %s\n", pcName );
    }

    fflush( stdout );
}

void vTestFinish( void )
{
    xFinishing = pdTRUE;
    prvSummaryAndExit( pdFALSE );
}

static void prvWatchdogTask( void * pvParameters )
{
    ( void ) pvParameters;

    vTaskDelay( xWatchdogTicks );

    if( xFinishing == pdFALSE )
    {
        xFinishing = pdTRUE;
        prvRecordFailure();
        printf( "WATCHDOG: vTestFinish() not reached within %lu ticks%s%s\n",
                ( unsigned long ) xWatchdogTicks,
                ( pcCurrentCase != NULL ) ? "; stuck in " : "",
                ( pcCurrentCase != NULL ) ? pcCurrentCase : "" );
        prvSummaryAndExit( pdTRUE );
    }

    vTaskDelete( NULL );
}

void vTestWatchdogStart( TickType_t xMaxTicks )
{
    xWatchdogTicks = xMaxTicks;

    if( xTaskCreate( prvWatchdogTask, "testwdog", configMINIMAL_STACK_SIZE, NULL,
                     configMAX_PRIORITIES - 1, NULL ) != pdPASS )
    {
        printf( "vTestWatchdogStart: cannot create the watchdog task\n" );
        fflush( stdout );
        exit( 1 );
    }
}

static void ( * pvMainBody )( void ) = NULL;
static TickType_t xMainWatchdogTicks = 0;

static void prvMainTask( void * pvParameters )
{
    ( void ) pvParameters;

    vTestWatchdogStart( xMainWatchdogTicks );
    pvMainBody();
    vTestFinish();
}

void vTestMain( void ( * pvBody )( void ), TickType_t xWatchdogTicks )
{
    pvMainBody = pvBody;
    xMainWatchdogTicks = xWatchdogTicks;

    if( xTaskCreate( prvMainTask, "testmain", configMINIMAL_STACK_SIZE * 4, NULL,
                     tskIDLE_PRIORITY + 1, NULL ) != pdPASS )
    {
        printf( "vTestMain: cannot create the test task\n" );
        fflush( stdout );
        exit( 1 );
    }

    vTaskStartScheduler();
    printf( "vTestMain: the scheduler returned\n" );
    fflush( stdout );
    exit( 1 );
}
