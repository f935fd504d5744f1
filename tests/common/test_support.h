/*
 * Support for C integration tests under the FreeRTOS POSIX simulator, run by
 * tests/tools/run_with_broker.py (a private Mosquitto broker on loopback, an
 * optional freezable relay and an optional scripted fake MQTT server).
 *
 * Everything here makes only quick, non-blocking system calls and waits with
 * vTaskDelay(), as simulator tasks must: a task blocked in a system call
 * starves the others, and the tick signal interrupts system calls (EINTR).
 *
 * Test kit:
 *
 *     static void prvCase( void )
 *     {
 *         TEST_CHECK( x == 1 );   // failure: recorded, the case goes on
 *         TEST_ASSERT( p != NULL ); // failure: recorded, the case ends here
 *     }
 *
 *     static void prvMain( void * pv )    // a FreeRTOS task
 *     {
 *         vTestWatchdogStart( 60000 );
 *         vTestRun( "case", prvCase );
 *         vTestFinish();                  // "N passed, M failed"; exit()s
 *     }
 *
 * or simply vTestMain( prvBody, 60000 ) from main(), where prvBody calls
 * vTestRun() for each case (vTestFinish() is called after it returns).
 *
 * vTestRun(), TEST_ASSERT() and vTestFinish() belong to one task (the one
 * running the cases). TEST_CHECK() may be used from any task; a TEST_ASSERT()
 * failing in another task ends the whole program as failed.
 */
#ifndef TEST_SUPPORT_H
#define TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "FreeRTOS.h"
#include "task.h"

/* Ports from the harness's environment (AFR_TEST_BROKER_PORT, ..._RELAY_PORT,
 * ..._FAKE_PORT). If the variable is missing or invalid, prints why and exits
 * with status 2. */
uint16_t usTestBrokerPort( void );
uint16_t usTestRelayPort( void );
uint16_t usTestFakePort( void );

/* The port in environment variable pcName (exits with a message when unset). */
uint16_t usTestPortFromEnv( const char * pcName );

/* Runs one harness control command (e.g. "broker-stop", "fake-script
 * refuse-connack 5", "fake-last-connect") and waits up to xTimeoutTicks for
 * its answer, polling with vTaskDelay( 1 ). Returns pdPASS if the harness
 * answered "ok", pdFAIL on an error answer, a timeout or a local failure
 * (each is printed). If pcResult is not NULL, it receives the result lines
 * (NUL-terminated, lines separated by '\n', without the final newline;
 * truncated to xResultSize - 1 characters) or, on an error answer, the error
 * text. Safe to call from several tasks. */
BaseType_t xTestControl( const char * pcCommand,
                         char * pcResult,
                         size_t xResultSize,
                         TickType_t xTimeoutTicks );

/* Generous timeout for xTestControl (broker-start may take a while). */
#define TEST_CONTROL_TIMEOUT    ( ( TickType_t ) 20000 )

/* ---- assertion kit ---- */

#define TEST_CHECK( cond )                                              \
    do {                                                                \
        if( !( cond ) )                                                 \
        {                                                               \
            vTestCheckFailed( __FILE__, __LINE__, #cond );              \
        }                                                               \
    } while( 0 )

#define TEST_ASSERT( cond )                                             \
    do {                                                                \
        if( !( cond ) )                                                 \
        {                                                               \
            vTestAssertFailed( __FILE__, __LINE__, #cond );             \
        }                                                               \
    } while( 0 )

/* Like TEST_CHECK( cond ), with a printf-style explanation. */
#define TEST_CHECK_MSG( cond, ... )                                     \
    do {                                                                \
        if( !( cond ) )                                                 \
        {                                                               \
            vTestCheckFailed( __FILE__, __LINE__, #cond );              \
            vTestNote( __VA_ARGS__ );                                   \
        }                                                               \
    } while( 0 )

/* Runs one test case: prints "=== RUN name", then "--- PASS name" or
 * "--- FAIL name", and counts it. Must run in a FreeRTOS task. */
void vTestRun( const char * pcName, void ( * pvCase )( void ) );

/* Prints exactly one final line "N passed, M failed" (test cases) and exits
 * with status 1 if anything failed (including checks outside any case), else
 * 0. Does not return. */
void vTestFinish( void ) __attribute__( ( noreturn ) );

/* Starts a task that prints a message and exits with status 1 unless
 * vTestFinish() is reached within xMaxTicks. Call it once, from a task or
 * before the scheduler starts. */
void vTestWatchdogStart( TickType_t xMaxTicks );

/* Convenience for main(): creates a task that starts the watchdog, runs
 * pvBody (which calls vTestRun for its cases) and then vTestFinish(); starts
 * the scheduler. Does not return. */
void vTestMain( void ( * pvBody )( void ), TickType_t xWatchdogTicks ) __attribute__( ( noreturn ) );

/* printf-style line prefixed with "    note: ", flushed (for diagnostics). */
void vTestNote( const char * pcFormat, ... ) __attribute__( ( format( printf, 1, 2 ) ) );

/* Number of failed checks/assertions so far in the current case (0 outside
 * any case: then the failures outside cases). */
uint32_t ulTestCaseFailures( void );

/* Used by the macros. */
void vTestCheckFailed( const char * pcFile, int lLine, const char * pcCond );
void vTestAssertFailed( const char * pcFile, int lLine, const char * pcCond ) __attribute__( ( noreturn ) );

#endif /* TEST_SUPPORT_H */
