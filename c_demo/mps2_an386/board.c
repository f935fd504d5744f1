/*
 * Board support of the MPS2 AN386 under QEMU: semihosting (console, exit
 * status, command line, the host's clock and random source), the FreeRTOS
 * hooks, the run-time statistics timer and the exit report. See README.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "FreeRTOS.h"
#include "semphr.h"
#include "task.h"

#include "board.h"

/* ---- ARM semihosting ------------------------------------------------------ */

#define SYS_OPEN             0x01
#define SYS_WRITE            0x05
#define SYS_READ             0x06
#define SYS_TIME             0x11
#define SYS_GET_CMDLINE      0x15
#define SYS_EXIT_EXTENDED    0x20

static int prvSemihost( int iOperation,
                        void * pvArgument )
{
    register int r0 __asm__ ( "r0" ) = iOperation;
    register void * r1 __asm__ ( "r1" ) = pvArgument;

    __asm volatile ( "bkpt 0xab" : "+r" ( r0 ) : "r" ( r1 ) : "memory" );
    return r0;
}

static int prvOpen( const char * pcName,
                    uint32_t ulMode )
{
    uint32_t ulBlock[ 3 ] = { ( uint32_t ) pcName, ulMode, ( uint32_t ) strlen( pcName ) };

    return prvSemihost( SYS_OPEN, ulBlock );
}

static int iConsole = -1; /* ":tt" opened for writing: the host's console. */
static int iRandom = -1;  /* The host's /dev/urandom, opened on first use. */

void vBoardWrite( const char * pcText,
                  size_t xLength )
{
    uint32_t ulBlock[ 3 ] = { ( uint32_t ) iConsole, ( uint32_t ) pcText, ( uint32_t ) xLength };

    if( ( iConsole >= 0 ) && ( xLength > 0 ) )
    {
        ( void ) prvSemihost( SYS_WRITE, ulBlock );
    }
}

static void prvWriteString( const char * pcText )
{
    vBoardWrite( pcText, strlen( pcText ) );
}

/* ---- printf and friends ----------------------------------------------------
 * newlib-nano's stdio has no locks, and the demos print from several tasks:
 * printf, puts and putchar format into one buffer under a mutex and go
 * straight to the console (no FILE buffering, nothing left unflushed at exit,
 * no stack buffer in the calling task). */

static SemaphoreHandle_t xPrintLock = NULL;
static char cPrintBuffer[ 1024 ];

static BaseType_t prvLockPrint( void )
{
    /* Before the scheduler, and in an interrupt, there is nobody to race. */
    if( ( xPrintLock == NULL ) || ( xTaskGetSchedulerState() != taskSCHEDULER_RUNNING ) ||
        ( ( *( volatile uint32_t * ) 0xE000ED04UL & 0x1FFUL ) != 0 ) )
    {
        return pdFALSE;
    }

    ( void ) xSemaphoreTake( xPrintLock, portMAX_DELAY );
    return pdTRUE;
}

static void prvUnlockPrint( BaseType_t xLocked )
{
    if( xLocked == pdTRUE )
    {
        ( void ) xSemaphoreGive( xPrintLock );
    }
}

int vprintf( const char * pcFormat,
             va_list xArgs )
{
    BaseType_t xLocked = prvLockPrint();
    int iLength = vsnprintf( cPrintBuffer, sizeof( cPrintBuffer ), pcFormat, xArgs );

    if( iLength > 0 )
    {
        vBoardWrite( cPrintBuffer, ( iLength < ( int ) sizeof( cPrintBuffer ) ) ? ( size_t ) iLength : sizeof( cPrintBuffer ) - 1 );
    }

    prvUnlockPrint( xLocked );
    return iLength;
}

int printf( const char * pcFormat,
            ... )
{
    va_list xArgs;
    int iLength;

    va_start( xArgs, pcFormat );
    iLength = vprintf( pcFormat, xArgs );
    va_end( xArgs );
    return iLength;
}

int puts( const char * pcText )
{
    return printf( "%s\n", pcText );
}

int putchar( int iChar )
{
    ( void ) printf( "%c", iChar );
    return iChar;
}

/* Anything else newlib writes (fputs, fwrite to stdout or stderr). */
int _write( int iFile,
            const char * pcData,
            int iLength );
int _write( int iFile,
            const char * pcData,
            int iLength )
{
    ( void ) iFile;
    vBoardWrite( pcData, ( size_t ) iLength );
    return iLength;
}

/* ---- The environment, from the semihosting command line --------------------
 * The harness (tests/tools/uart_bridge.py) passes NAME=VALUE words after the
 * program's name; getenv() finds them, so the demos' C runs as it does on the
 * simulator. */

extern char ** environ;
static char cCommandLine[ 1024 ];
static char * pcEnvironment[ 32 ];

static void prvLoadEnvironment( void )
{
    uint32_t ulBlock[ 2 ] = { ( uint32_t ) cCommandLine, sizeof( cCommandLine ) - 1 };
    size_t xCount = 0;
    char * pcWord;
    char * pcNext;

    if( prvSemihost( SYS_GET_CMDLINE, ulBlock ) != 0 )
    {
        return;
    }

    cCommandLine[ ulBlock[ 1 ] ] = '\0';

    for( pcWord = strtok_r( cCommandLine, " ", &pcNext ); pcWord != NULL; pcWord = strtok_r( NULL, " ", &pcNext ) )
    {
        if( ( strchr( pcWord, '=' ) != NULL ) && ( xCount < ( sizeof( pcEnvironment ) / sizeof( pcEnvironment[ 0 ] ) ) - 1 ) )
        {
            pcEnvironment[ xCount++ ] = pcWord;
        }
    }

    pcEnvironment[ xCount ] = NULL;
    environ = pcEnvironment;
}

/* ---- Run-time statistics: CMSDK timer 0 at 0x40000000 ---------------------- */

#define TIMER0_CTRL        ( *( volatile uint32_t * ) 0x40000000UL )
#define TIMER0_VALUE       ( *( volatile uint32_t * ) 0x40000004UL )
#define TIMER0_RELOAD      ( *( volatile uint32_t * ) 0x40000008UL )
#define TIMER0_INTCLEAR    ( *( volatile uint32_t * ) 0x4000000CUL )
#define NVIC_ISER0         ( *( volatile uint32_t * ) 0xE000E100UL )

static volatile uint32_t ulTimerWraps = 0;

void vBoardRunTimeTimerInit( void )
{
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xFFFFFFFFUL;
    TIMER0_VALUE = 0xFFFFFFFFUL;
    TIMER0_INTCLEAR = 1;
    /* Interrupt 8 keeps its reset priority 0, above every FreeRTOS critical
     * section: the wrap count never lags (the handler calls no FreeRTOS API). */
    NVIC_ISER0 = 1UL << 8;
    TIMER0_CTRL = ( 1UL << 0 ) | ( 1UL << 3 ); /* enable, interrupt on wrap */
}

void vBoardTimer0Handler( void )
{
    TIMER0_INTCLEAR = 1;
    ulTimerWraps++;
}

uint64_t ullBoardRunTimeCounter( void )
{
    uint32_t ulWraps;
    uint32_t ulValue;

    do
    {
        ulWraps = ulTimerWraps;
        ulValue = TIMER0_VALUE;
    } while( ulWraps != ulTimerWraps );

    return ( ( uint64_t ) ulWraps << 32 ) + ( 0xFFFFFFFFUL - ulValue );
}

/* ---- Exit, the exit report, fatal errors ---------------------------------- */

static void prvExitQemu( uint32_t ulStatus ) __attribute__( ( noreturn ) );
static void prvExitQemu( uint32_t ulStatus )
{
    uint32_t ulBlock[ 2 ] = { 0x20026UL /* ADP_Stopped_ApplicationExit */, ulStatus };

    for( ; ; )
    {
        ( void ) prvSemihost( SYS_EXIT_EXTENDED, ulBlock );
    }
}

static char cReportLine[ 192 ];

/* newlib-nano's printf has no %llu. */
static const char * prvU64( uint64_t ullValue,
                            char * pcBuffer /* 21 bytes */ )
{
    char * pc = &pcBuffer[ 20 ];

    *pc = '\0';

    do
    {
        *--pc = ( char ) ( '0' + ( ullValue % 10U ) );
        ullValue /= 10U;
    } while( ullValue != 0U );

    return pc;
}

void vBoardFigure( const char * pcName,
                   uint64_t ullValue )
{
    char cNumber[ 21 ];
    size_t xLength;

    ( void ) snprintf( cReportLine, sizeof( cReportLine ), "board-figure: %s %s\n", pcName, prvU64( ullValue, cNumber ) );

    /* One word per name: "Tmr Svc" becomes "Tmr_Svc". */
    xLength = strlen( "board-figure: " ) + strlen( pcName );

    for( size_t i = strlen( "board-figure: " ); i < xLength && i < sizeof( cReportLine ); i++ )
    {
        cReportLine[ i ] = ( cReportLine[ i ] == ' ' ) ? '_' : cReportLine[ i ];
    }

    prvWriteString( cReportLine );
}

static TaskStatus_t xTasks[ 24 ];

/* The network port adds its own lines (secure_sockets_uart.c); none without. */
__attribute__( ( weak ) ) void vBoardNetworkReport( void )
{
}

uint64_t ullBoardTaskRunTime( const char * pcName )
{
    /* By handle, not through uxTaskGetSystemState: that also scans every
     * task's stack for its high-water mark, work that grows with the stack a
     * task leaves free and that the instruction figures would count as the
     * measuring task's. */
    TaskHandle_t xTask = xTaskGetHandle( pcName );

    return ( xTask == NULL ) ? 0U : ( uint64_t ) ulTaskGetRunTimeCounter( xTask );
}

/* Per task: the stack it never touched (uxTaskGetStackHighWaterMark, exact on
 * this port: the kernel fills each stack with a known byte) and the run time;
 * the heap's minimum ever free. Tasks already deleted are not listed. */
static void prvExitReport( void )
{
    char cName[ 48 ];
    char cNumber[ 21 ];
    UBaseType_t uxCount = uxTaskGetSystemState( xTasks, 24, NULL );

    for( UBaseType_t i = 0; i < uxCount; i++ )
    {
        ( void ) snprintf( cReportLine, sizeof( cReportLine ),
                           "board: task %-10s stack never used %6lu bytes, ran %s timer counts\n",
                           xTasks[ i ].pcTaskName, ( unsigned long ) xTasks[ i ].usStackHighWaterMark * 4UL,
                           prvU64( xTasks[ i ].ulRunTimeCounter, cNumber ) );
        prvWriteString( cReportLine );
        ( void ) snprintf( cName, sizeof( cName ), "stack_size_bytes.%s", xTasks[ i ].pcTaskName );
        vBoardFigure( cName, ( uint64_t ) ( xTasks[ i ].pxEndOfStack - xTasks[ i ].pxStackBase + 1 ) * sizeof( StackType_t ) );
        ( void ) snprintf( cName, sizeof( cName ), "stack_unused_bytes.%s", xTasks[ i ].pcTaskName );
        vBoardFigure( cName, ( uint64_t ) xTasks[ i ].usStackHighWaterMark * 4U );
        ( void ) snprintf( cName, sizeof( cName ), "run_counts.%s", xTasks[ i ].pcTaskName );
        vBoardFigure( cName, xTasks[ i ].ulRunTimeCounter );
    }

    ( void ) snprintf( cReportLine, sizeof( cReportLine ),
                       "board: heap %lu bytes, %lu free now, %lu at least (peak use %lu)\n",
                       ( unsigned long ) configTOTAL_HEAP_SIZE, ( unsigned long ) xPortGetFreeHeapSize(),
                       ( unsigned long ) xPortGetMinimumEverFreeHeapSize(),
                       ( unsigned long ) ( configTOTAL_HEAP_SIZE - xPortGetMinimumEverFreeHeapSize() ) );
    prvWriteString( cReportLine );
    vBoardFigure( "heap_peak_use_bytes", configTOTAL_HEAP_SIZE - xPortGetMinimumEverFreeHeapSize() );
    vBoardFigure( "ticks", xTaskGetTickCount() );
    vBoardNetworkReport();
}

void vBoardExit( uint32_t ulStatus )
{
    BaseType_t xInInterrupt = ( ( *( volatile uint32_t * ) 0xE000ED04UL & 0x1FFUL ) != 0 ) ? pdTRUE : pdFALSE;

    if( ( xTaskGetSchedulerState() == taskSCHEDULER_RUNNING ) && ( xInInterrupt == pdFALSE ) )
    {
        vTaskSuspendAll(); /* Nobody else prints or runs from here on. */
        prvExitReport();
    }

    ( void ) snprintf( cReportLine, sizeof( cReportLine ), "board: exit status %lu\n", ( unsigned long ) ulStatus );
    prvWriteString( cReportLine );
    prvExitQemu( ulStatus );
}

/* exit() (the demos end with exit( 0 ) or exit( 1 )) ends here. */
void _exit( int iStatus );
void _exit( int iStatus )
{
    vBoardExit( ( uint32_t ) iStatus );
}

void vBoardPanic( const char * pcWhat,
                  uint32_t ulValue )
{
    ( void ) snprintf( cReportLine, sizeof( cReportLine ), "board: FATAL: %s (0x%08lx)\n", pcWhat, ( unsigned long ) ulValue );
    prvWriteString( cReportLine );
    prvExitQemu( 70 );
}

void vBoardFaultReport( const uint32_t * pulFrame,
                        uint32_t ulExcReturn );
static void prvWriteHex( const char * pcLabel,
                         uint32_t ulValue )
{
    char cText[ 12 ] = { ' ', '0', 'x' };

    for( int i = 0; i < 8; i++ )
    {
        cText[ 3 + i ] = "0123456789abcdef"[ ( ulValue >> ( 28 - 4 * i ) ) & 0xFU ];
    }

    prvWriteString( pcLabel );
    vBoardWrite( cText, 11 );
}

/* No formatting library here: a fault may come from inside it. */
void vBoardFaultReport( const uint32_t * pulFrame,
                        uint32_t ulExcReturn )
{
    prvWriteString( "board: FATAL: fault" );
    prvWriteHex( " exception", *( volatile uint32_t * ) 0xE000ED04UL & 0x1FFUL );
    prvWriteHex( " CFSR", *( volatile uint32_t * ) 0xE000ED28UL );
    prvWriteHex( " HFSR", *( volatile uint32_t * ) 0xE000ED2CUL );
    prvWriteHex( " MMFAR", *( volatile uint32_t * ) 0xE000ED34UL );
    prvWriteHex( " BFAR", *( volatile uint32_t * ) 0xE000ED38UL );
    prvWriteHex( " pc", pulFrame[ 6 ] );
    prvWriteHex( " lr", pulFrame[ 5 ] );
    prvWriteHex( " sp", ( uint32_t ) pulFrame );
    prvWriteHex( " exc_return", ulExcReturn );

    if( xTaskGetSchedulerState() != taskSCHEDULER_NOT_STARTED )
    {
        prvWriteString( " task " );
        prvWriteString( pcTaskGetName( NULL ) );
    }

    prvWriteString( "\n" );
    prvExitQemu( 71 );
}

void vAssertCalled( const char * pcFile,
                    unsigned long ulLine )
{
    prvWriteString( "board: FATAL: assertion failed in " );
    prvWriteString( pcFile );
    vBoardPanic( "line", ( uint32_t ) ulLine );
}

void vApplicationStackOverflowHook( TaskHandle_t xTask,
                                    char * pcTaskName )
{
    ( void ) xTask;
    prvWriteString( "board: FATAL: stack overflow in task " );
    prvWriteString( pcTaskName );
    prvWriteString( "\n" );
    prvExitQemu( 72 );
}

void vApplicationMallocFailedHook( void )
{
    vBoardPanic( "pvPortMalloc failed; heap free", ( uint32_t ) xPortGetFreeHeapSize() );
}

/* ---- TLS hooks (config/aws_mqtt_agent_config.h) ----------------------------
 * The board has neither an RTC nor a TRNG: the host's clock (SYS_TIME) and the
 * host's /dev/urandom stand in, as an SNTP client and a TRNG would on a device. */

BaseType_t xBoardTlsGetTime( uint64_t * pullUnixSeconds );
BaseType_t xBoardTlsGetRandom( uint8_t * pucBuffer,
                               size_t xLength );

BaseType_t xBoardTlsGetTime( uint64_t * pullUnixSeconds )
{
    int iNow = prvSemihost( SYS_TIME, NULL );

    if( iNow <= 0 )
    {
        return pdFALSE;
    }

    *pullUnixSeconds = ( uint64_t ) ( uint32_t ) iNow;
    return pdTRUE;
}

BaseType_t xBoardTlsGetRandom( uint8_t * pucBuffer,
                               size_t xLength )
{
    uint32_t ulBlock[ 3 ];

    if( iRandom < 0 )
    {
        iRandom = prvOpen( "/dev/urandom", 1 /* "rb" */ );
    }

    ulBlock[ 0 ] = ( uint32_t ) iRandom;
    ulBlock[ 1 ] = ( uint32_t ) pucBuffer;
    ulBlock[ 2 ] = ( uint32_t ) xLength;

    /* SYS_READ answers the number of bytes NOT read. */
    return ( ( iRandom >= 0 ) && ( prvSemihost( SYS_READ, ulBlock ) == 0 ) ) ? pdTRUE : pdFALSE;
}

/* The demos' mqttconfigTLS_DEFAULT_ROOTS_PEM (c_demo/config): empty means the
 * library's built-in roots; the TLS lightbulb copies its test CA in here. */
char cSimDefaultRootsPem[ 8192 ] = "";

/* ---- Start-up ------------------------------------------------------------- */

void vBoardInit( void )
{
    iConsole = prvOpen( ":tt", 4 /* "w" */ );
    prvLoadEnvironment();
    xPrintLock = xSemaphoreCreateMutex();
}
