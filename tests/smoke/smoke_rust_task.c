/*
 * Smoke test: the Rust library, linked into a FreeRTOS POSIX simulator program,
 * creates a real FreeRTOS task through freertos-rust; the task runs, uses the
 * FreeRTOS heap from Rust (normal and over-aligned allocations) and the buffer
 * pool, sleeps a few ticks and reports back. A C watchdog task fails the test if
 * the report does not come.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "afr_selftest.h"

static volatile int32_t lResult = -1;
static volatile uint32_t ulTicks = 0;
static volatile BaseType_t xReported = pdFALSE;
static volatile TaskHandle_t xReporter = NULL;
static char cReporterName[ configMAX_TASK_NAME_LEN + 1 ];

static void prvReport( int32_t lCode, uint32_t ulElapsed )
{
    lResult = lCode;
    ulTicks = ulElapsed;
    xReporter = xTaskGetCurrentTaskHandle();
    /* Copy the name now: the task is deleted once it returns. */
    snprintf( cReporterName, sizeof( cReporterName ), "%s", pcTaskGetName( NULL ) );
    xReported = pdTRUE;
}

static void prvWatchdog( void * pvParameters )
{
    ( void ) pvParameters;

    for( int i = 0; i < 5000 && xReported == pdFALSE; i++ )
    {
        vTaskDelay( 1 );
    }

    if( xReported == pdFALSE )
    {
        printf( "FAIL: the Rust-created task never reported\n" );
        exit( 1 );
    }

    /* The report must come from a task other than this one and main's. */
    if( ( xReporter == NULL ) || ( xReporter == xTaskGetCurrentTaskHandle() ) )
    {
        printf( "FAIL: report did not come from a separate FreeRTOS task\n" );
        exit( 1 );
    }

    if( lResult != 0 )
    {
        printf( "FAIL: Rust self-test reported error %d\n", ( int ) lResult );
        exit( 1 );
    }

    if( ulTicks < AFR_SELFTEST_DELAY_TICKS )
    {
        printf( "FAIL: the task slept %u ticks, expected at least %u\n",
                ( unsigned ) ulTicks, ( unsigned ) AFR_SELFTEST_DELAY_TICKS );
        exit( 1 );
    }

    printf( "PASS: Rust-created FreeRTOS task '%s' ran (slept %u ticks)\n",
            cReporterName, ( unsigned ) ulTicks );
    exit( 0 );
}

int main( void )
{
    if( AFR_SELFTEST_StartTask( prvReport ) != pdPASS )
    {
        printf( "FAIL: AFR_SELFTEST_StartTask\n" );
        return 1;
    }

    xTaskCreate( prvWatchdog, "watchdog", configMINIMAL_STACK_SIZE, NULL, tskIDLE_PRIORITY + 1, NULL );
    vTaskStartScheduler();
    printf( "FAIL: scheduler returned\n" );
    return 1;
}
