/*
 * Agent benchmark, afr-cloud side: the AFR v1 MQTT agent API (this project's
 * Rust agent) under the FreeRTOS POSIX simulator, against the Mosquitto on
 * 127.0.0.1:$AFR_TEST_BROKER_PORT. See bench_common.h for the workloads and
 * the output; bench_mosquitto.c runs the same ones with libmosquitto.
 *
 *   bench_agent_afr [--smoke] [--only SUBSTRING]
 *
 * Besides the shared workloads it reports:
 *   wakeup/q0/64   data-to-callback: another process publishes QoS 0 at
 *                  random times to this client's subscription; in ticks, how
 *                  many ticks happen from the data's arrival (when the
 *                  publisher's own copy comes back) to the callback, 1 at the
 *                  first tick after it (a top-priority task logs when each
 *                  tick happens); in microseconds, send to callback. With the
 *                  Secure Sockets wake-up callback it should be 1 tick
 *                  (built with -DBENCH_WAKEUP_ONLY=1 and the port without the
 *                  callback, only this workload runs, reported as "afr_poll")
 *                  bench_agent_afr_tickwatch: the same program with the port
 *                  built without its idle poller (socketsconfigSIM_IDLE_POLLER
 *                  0: wake-up only at the per-tick watcher's next poll),
 *                  reported as "afr_tick"
 *   heap           FreeRTOS heap (heap_4) in use: after connecting (base) and
 *                  the peak over the workloads (configTOTAL_HEAP_SIZE minus
 *                  the minimum ever free, reset before each workload)
 *   sim            microseconds per simulator tick, measured
 *   handoffs/qQ/64 hand-offs per publish (QoS 1: until PUBACK; QoS 0: until
 *                  written): critical sections, scheduler suspensions, yields
 *                  and task switches (all, and those that changed the task:
 *                  into the agent task, back into the caller, into the
 *                  Secure Sockets port's tasks, into idle), counted by the
 *                  benchmark build's kernel hooks and link-time wrappers
 *                  (handoffs.h) over iHandoffPublishes publishes from this
 *                  program's main task, one at a time, 64 B, to a topic
 *                  nobody subscribes to; averaged per publish
 *   handoffs/idle  the same counters per tick while everything sleeps: the
 *                  background (ticks, the port's per-tick watcher and idle
 *                  poller) that a publish's window also contains
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "FreeRTOS.h"
#include "semphr.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "aws_mqtt_agent.h"

#include "bench_common.h"
#include "handoffs.h"

/* 1: only the wake-up workload (the program linked with the Secure Sockets
 * port without the wake-up callback, where the agent polls). */
#ifndef BENCH_WAKEUP_ONLY
    #define BENCH_WAKEUP_ONLY    0
#endif

/* The name in the RESULT lines: "afr", "afr_poll" (BENCH_WAKEUP_ONLY), or
 * BENCH_IMPL_NAME when given (bench_agent_afr_tickwatch: "afr_tick"). */
#if defined( BENCH_IMPL_NAME )
    #define IMPL    BENCH_IMPL_NAME
#elif ( BENCH_WAKEUP_ONLY == 1 )
    #define IMPL    "afr_poll"
#else
    #define IMPL    "afr"
#endif

#define CALL_TIMEOUT      pdMS_TO_TICKS( 5000 )
#define ECHO_TIMEOUT      pdMS_TO_TICKS( 2000 )
#define RATE_TOPIC        "bench/afr/rate"
#define RTT_TOPIC         "bench/afr/rtt"
#define WAKE_TOPIC        "bench/afr/wake"
#define WORKER_PRIORITY   ( tskIDLE_PRIORITY + 1 )
#define MAIN_PRIORITY     ( tskIDLE_PRIORITY + 2 )

static BenchParams_t xParams;
static const char * pcOnly;
static MQTTAgentHandle_t xClient;

/*----------------------------------------------------------- publisher tasks */

/* The job the publisher tasks share: messages are claimed one by one. */
static struct
{
    MQTTQoS_t xQoS;
    int iPayload;
    int iCount;
    double dDeadline; /* 0: none */
    int iNext;
    int iDone;
    int iErrors;
    int iSlow; /* publish calls longer than BENCH_SLOW_SECONDS */
    MQTTAgentReturnCode_t xFirstError;
} xJob;

static SemaphoreHandle_t xGo[ BENCH_MAX_TASKS ];
static SemaphoreHandle_t xFinished;
static uint8_t ucPayloads[ BENCH_MAX_TASKS ][ BENCH_MAX_PAYLOAD ];

static void prvFatal( const char * pcWhat,
                      int iCode )
{
    fprintf( stderr, "bench_agent_afr: %s failed (%d)\n", pcWhat, iCode );
    fflush( stderr );
    exit( 1 );
}

static void prvPublisherTask( void * pvParameters )
{
    int iTask = ( int ) ( uintptr_t ) pvParameters;
    uint8_t * pucPayload = ucPayloads[ iTask ];

    for( ; ; )
    {
        xSemaphoreTake( xGo[ iTask ], portMAX_DELAY );

        for( ; ; )
        {
            int iSeq;

            if( ( xJob.dDeadline > 0.0 ) && ( dBenchNow() > xJob.dDeadline ) )
            {
                break;
            }

            taskENTER_CRITICAL();
            iSeq = xJob.iNext < xJob.iCount ? xJob.iNext++ : -1;
            taskEXIT_CRITICAL();

            if( iSeq < 0 )
            {
                break;
            }

            vBenchFillPayload( pucPayload, xJob.iPayload, ( uint32_t ) iSeq );
            MQTTAgentPublishParams_t xPublish =
            {
                .pucTopic      = ( const uint8_t * ) RATE_TOPIC,
                .usTopicLength = ( uint16_t ) strlen( RATE_TOPIC ),
                .xQoS          = xJob.xQoS,
                .pvData        = pucPayload,
                .ulDataLength  = ( uint32_t ) xJob.iPayload,
            };
            double dCall = dBenchNow();
            MQTTAgentReturnCode_t xRc = MQTT_AGENT_Publish( xClient, &xPublish, CALL_TIMEOUT );
            int iSlow = ( dBenchNow() - dCall ) > BENCH_SLOW_SECONDS;

            taskENTER_CRITICAL();
            xJob.iSlow += iSlow;

            if( xRc == eMQTTAgentSuccess )
            {
                xJob.iDone++;
            }
            else if( xJob.iErrors++ == 0 )
            {
                xJob.xFirstError = xRc;
            }

            taskEXIT_CRITICAL();
        }

        xSemaphoreGive( xFinished );
    }
}

/* Runs one job on iTasks publisher tasks; returns its wall time in seconds. */
static double prvRunJob( int iTasks,
                         MQTTQoS_t xQoS,
                         int iPayload,
                         int iCount,
                         double dCapSeconds )
{
    xJob.xQoS = xQoS;
    xJob.iPayload = iPayload;
    xJob.iCount = iCount;
    xJob.iNext = 0;
    xJob.iDone = 0;
    xJob.iErrors = 0;
    xJob.iSlow = 0;
    xJob.xFirstError = eMQTTAgentSuccess;

    double dStart = dBenchNow();
    xJob.dDeadline = dCapSeconds > 0.0 ? dStart + dCapSeconds : 0.0;

    for( int t = 0; t < iTasks; t++ )
    {
        xSemaphoreGive( xGo[ t ] );
    }

    for( int t = 0; t < iTasks; t++ )
    {
        xSemaphoreTake( xFinished, portMAX_DELAY );
    }

    return dBenchNow() - dStart;
}

/*--------------------------------------------------------------------- heap */

static size_t prvHeapInUse( void )
{
    return configTOTAL_HEAP_SIZE - xPortGetFreeHeapSize();
}

static size_t prvHeapPeak( void )
{
    return configTOTAL_HEAP_SIZE - xPortGetMinimumEverFreeHeapSize();
}

/* Bytes of all task stacks (every simulated task's stack is in the heap). */
static size_t prvTaskStacks( UBaseType_t * puxTasks )
{
    static TaskStatus_t xStatus[ 16 ];
    UBaseType_t n = uxTaskGetSystemState( xStatus, 16, NULL );
    size_t xBytes = 0;

    for( UBaseType_t i = 0; i < n; i++ )
    {
        xBytes += ( size_t ) ( xStatus[ i ].pxEndOfStack - xStatus[ i ].pxStackBase + 1 ) * sizeof( StackType_t );
    }

    *puxTasks = n;
    return xBytes;
}

static size_t xWorkloadPeakMax = 0;

static void prvHeapWorkloadStart( void )
{
    xPortResetHeapMinimumEverFreeHeapSize();
}

static void prvHeapWorkloadEnd( const char * pcKey )
{
    size_t xPeak = prvHeapPeak();

    if( xPeak > xWorkloadPeakMax )
    {
        xWorkloadPeakMax = xPeak;
    }

    vBenchResult( IMPL, pcKey, "heap_peak_bytes", ( double ) xPeak );
}

/*---------------------------------------------------------------- workloads */

static void prvRate( MQTTQoS_t xQoS,
                     int iTasks,
                     int iPayload )
{
    char cKey[ 48 ];
    double dRates[ BENCH_REPS ];
    int iMessages = 0;
    int iSlowCalls = 0;
    int iErrors = 0;
    MQTTAgentReturnCode_t xFirstError = eMQTTAgentSuccess;

    vBenchKey( cKey, sizeof( cKey ), "rate", ( int ) xQoS, iTasks, iPayload );

    if( !iBenchSelected( pcOnly, cKey ) )
    {
        return;
    }

    fprintf( stderr, "afr-cloud: %s\n", cKey );
    prvHeapWorkloadStart();
    ( void ) prvRunJob( iTasks, xQoS, iPayload, xParams.iWarmup, 0.0 );

    for( int r = 0; r < BENCH_REPS; r++ )
    {
        double dSeconds = prvRunJob( iTasks, xQoS, iPayload, xParams.iRateMessages[ xQoS ], xParams.dRateCapSeconds );
        char cMetric[ 16 ];

        dRates[ r ] = dSeconds > 0.0 ? ( double ) xJob.iDone / dSeconds : 0.0;
        iMessages += xJob.iDone;
        iSlowCalls += xJob.iSlow;

        if( ( xJob.iErrors > 0 ) && ( iErrors == 0 ) )
        {
            xFirstError = xJob.xFirstError;
        }

        iErrors += xJob.iErrors;
        snprintf( cMetric, sizeof( cMetric ), "rep%d", r + 1 );
        vBenchResult( IMPL, cKey, cMetric, dRates[ r ] );
    }

    vBenchResult( IMPL, cKey, "msgs_per_s", dBenchMedian3( dRates, BENCH_REPS ) );
    vBenchResult( IMPL, cKey, "messages", iMessages );
    vBenchResult( IMPL, cKey, "slow_pct", iMessages > 0 ? 100.0 * iSlowCalls / iMessages : 0.0 );
    vBenchResult( IMPL, cKey, "errors", iErrors );
    prvHeapWorkloadEnd( cKey );

    if( iErrors > 0 )
    {
        fprintf( stderr, "afr-cloud: %s: %d publishes failed (first: %d)\n", cKey, iErrors, ( int ) xFirstError );
    }
}

/* What the subscription callback saw of the message it waits for. */
static volatile uint32_t ulExpectSeq = UINT32_MAX;
static volatile uint32_t ulExpectLength;
static volatile double dEchoTime;
static SemaphoreHandle_t xEcho;

static MQTTBool_t prvEchoCallback( void * pvContext,
                                   const MQTTPublishData_t * const pxPublish )
{
    ( void ) pvContext;

    if( ( pxPublish->ulDataLength == ulExpectLength ) &&
        ( ulBenchPayloadSeq( pxPublish->pvData, pxPublish->ulDataLength ) == ulExpectSeq ) )
    {
        dEchoTime = dBenchNow();
        ulExpectSeq = UINT32_MAX;
        xSemaphoreGive( xEcho );
    }

    return eMQTTFalse;
}

static void prvSubscribe( MQTTQoS_t xQoS )
{
    MQTTAgentSubscribeParams_t xSubscribe =
    {
        .pucTopic                 = ( const uint8_t * ) RTT_TOPIC,
        .usTopicLength            = ( uint16_t ) strlen( RTT_TOPIC ),
        .xQoS                     = xQoS,
        .pvPublishCallbackContext = NULL,
        .pxPublishCallback        = prvEchoCallback,
    };
    MQTTAgentReturnCode_t xRc = MQTT_AGENT_Subscribe( xClient, &xSubscribe, CALL_TIMEOUT );

    if( xRc != eMQTTAgentSuccess )
    {
        prvFatal( "MQTT_AGENT_Subscribe", xRc );
    }
}

static void prvUnsubscribe( void )
{
    MQTTAgentUnsubscribeParams_t xUnsubscribe =
    {
        .pucTopic      = ( const uint8_t * ) RTT_TOPIC,
        .usTopicLength = ( uint16_t ) strlen( RTT_TOPIC ),
    };
    MQTTAgentReturnCode_t xRc = MQTT_AGENT_Unsubscribe( xClient, &xUnsubscribe, CALL_TIMEOUT );

    if( xRc != eMQTTAgentSuccess )
    {
        prvFatal( "MQTT_AGENT_Unsubscribe", xRc );
    }
}

/* One message to the client's own subscription: publish, then wait for the
 * callback. Returns pdTRUE with the publish's start time (the callback's is
 * in dEchoTime), or pdFALSE (publish failed or no echo in time). */
static BaseType_t prvEcho( MQTTQoS_t xQoS,
                           uint8_t * pucPayload,
                           int iPayload,
                           uint32_t ulSeq,
                           double * pdStart )
{
    ( void ) xSemaphoreTake( xEcho, 0 );
    vBenchFillPayload( pucPayload, iPayload, ulSeq );
    ulExpectLength = ( uint32_t ) iPayload;
    ulExpectSeq = ulSeq;

    MQTTAgentPublishParams_t xPublish =
    {
        .pucTopic      = ( const uint8_t * ) RTT_TOPIC,
        .usTopicLength = ( uint16_t ) strlen( RTT_TOPIC ),
        .xQoS          = xQoS,
        .pvData        = pucPayload,
        .ulDataLength  = ( uint32_t ) iPayload,
    };

    *pdStart = dBenchNow();

    if( MQTT_AGENT_Publish( xClient, &xPublish, CALL_TIMEOUT ) != eMQTTAgentSuccess )
    {
        ulExpectSeq = UINT32_MAX;
        return pdFALSE;
    }

    if( xSemaphoreTake( xEcho, ECHO_TIMEOUT ) != pdTRUE )
    {
        ulExpectSeq = UINT32_MAX;
        return pdFALSE;
    }

    return pdTRUE;
}

static double dSamples[ BENCH_MAX_SAMPLES ];
static uint32_t ulNextSeq = 1;

static void prvRoundTrip( MQTTQoS_t xQoS,
                          int iPayload )
{
    char cKey[ 48 ];
    int n = 0;
    int iErrors = 0;
    double dStart;
    uint8_t * pucPayload = ucPayloads[ 0 ];

    vBenchKey( cKey, sizeof( cKey ), "rtt", ( int ) xQoS, 0, iPayload );

    if( !iBenchSelected( pcOnly, cKey ) )
    {
        return;
    }

    fprintf( stderr, "afr-cloud: %s\n", cKey );
    prvHeapWorkloadStart();
    prvSubscribe( xQoS );

    for( int i = 0; i < xParams.iWarmup; i++ )
    {
        ( void ) prvEcho( xQoS, pucPayload, iPayload, ulNextSeq++, &dStart );
    }

    double dDeadline = dBenchNow() + xParams.dRttCapSeconds;

    while( n < xParams.iRttSamples && n < BENCH_MAX_SAMPLES && dBenchNow() < dDeadline )
    {
        if( prvEcho( xQoS, pucPayload, iPayload, ulNextSeq++, &dStart ) == pdTRUE )
        {
            dSamples[ n++ ] = dEchoTime - dStart;
        }
        else
        {
            iErrors++;
        }
    }

    prvUnsubscribe();
    prvHeapWorkloadEnd( cKey );
    vBenchReportRtt( IMPL, cKey, dSamples, n, iErrors );
}

/*--------------------------------------------------------------- hand-offs */

/* Which task a switch or critical section belongs to, for the report. */
typedef enum
{
    eHandoffCaller, eHandoffAgent, eHandoffSockets, eHandoffIdle, eHandoffOther, eHandoffGroups
} HandoffGroup_t;

static const char * const pcHandoffGroupName[ eHandoffGroups ] = { "caller", "agent", "sockets", "idle", "other" };

static HandoffGroup_t prvHandoffGroup( void * pvTask )
{
    TaskHandle_t xTask = ( TaskHandle_t ) pvTask;
    const char * pcName;

    if( xTask == xTaskGetCurrentTaskHandle() )
    {
        return eHandoffCaller;
    }

    if( xTask == xTaskGetIdleTaskHandle() )
    {
        return eHandoffIdle;
    }

    pcName = pcTaskGetName( xTask );

    if( strcmp( pcName, "MQTT" ) == 0 ) /* the agent task (src/platform/agent_task) */
    {
        return eHandoffAgent;
    }

    if( strncmp( pcName, "Sock", 4 ) == 0 ) /* SockWake, SockPoll */
    {
        return eHandoffSockets;
    }

    return eHandoffOther;
}

/* Reports b - a divided by dPer, as "<metric>_per_<sPer>" results; per task
 * group too. Tasks that exited between the snapshots are not looked up. */
static void prvHandoffReport( const char * pcKey,
                              const char * pcPer,
                              const HandoffCounts_t * a,
                              const HandoffCounts_t * b,
                              double dPer )
{
    char cMetric[ 64 ];
    double dGroupSwitches[ eHandoffGroups ] = { 0 };
    double dGroupCritical[ eHandoffGroups ] = { 0 };
    double dGroupSuspend[ eHandoffGroups ] = { 0 };
    double dGroupYields[ eHandoffGroups ] = { 0 };

#define HANDOFF_RESULT( name, field )                                          \
    do {                                                                       \
        snprintf( cMetric, sizeof( cMetric ), "%s_per_%s", name, pcPer );      \
        vBenchResult( IMPL, pcKey, cMetric, ( double ) ( uint32_t ) ( b->field - a->field ) / dPer ); \
    } while( 0 )

    HANDOFF_RESULT( "critical", ulCritical );
    HANDOFF_RESULT( "critical_from_isr", ulCriticalFromIsr );
    HANDOFF_RESULT( "suspend_all", ulSuspendAll );
    HANDOFF_RESULT( "yields", ulYields );
    HANDOFF_RESULT( "switches", ulSwitchesTotal );
    HANDOFF_RESULT( "switches_changed", ulSwitchesChanged );
    HANDOFF_RESULT( "ticks", ulTicks );
#undef HANDOFF_RESULT

    for( int i = 0; i < HANDOFF_MAX_TASKS && b->xTasks[ i ].pvTask != NULL; i++ )
    {
        int j = iHandoffTaskSlot( a, b->xTasks[ i ].pvTask );
        HandoffGroup_t xGroup = prvHandoffGroup( b->xTasks[ i ].pvTask );

#define HANDOFF_DELTA( field )    ( double ) ( uint32_t ) ( b->xTasks[ i ].field - ( j >= 0 ? a->xTasks[ j ].field : 0U ) )
        dGroupSwitches[ xGroup ] += HANDOFF_DELTA( ulSwitchedIn );
        dGroupCritical[ xGroup ] += HANDOFF_DELTA( ulCritical );
        dGroupSuspend[ xGroup ] += HANDOFF_DELTA( ulSuspendAll );
        dGroupYields[ xGroup ] += HANDOFF_DELTA( ulYields );
#undef HANDOFF_DELTA
    }

    for( int g = 0; g < eHandoffGroups; g++ )
    {
        snprintf( cMetric, sizeof( cMetric ), "switches_to_%s_per_%s", pcHandoffGroupName[ g ], pcPer );
        vBenchResult( IMPL, pcKey, cMetric, dGroupSwitches[ g ] / dPer );
        snprintf( cMetric, sizeof( cMetric ), "critical_in_%s_per_%s", pcHandoffGroupName[ g ], pcPer );
        vBenchResult( IMPL, pcKey, cMetric, dGroupCritical[ g ] / dPer );
        snprintf( cMetric, sizeof( cMetric ), "suspend_all_in_%s_per_%s", pcHandoffGroupName[ g ], pcPer );
        vBenchResult( IMPL, pcKey, cMetric, dGroupSuspend[ g ] / dPer );
        snprintf( cMetric, sizeof( cMetric ), "yields_in_%s_per_%s", pcHandoffGroupName[ g ], pcPer );
        vBenchResult( IMPL, pcKey, cMetric, dGroupYields[ g ] / dPer );
    }
}

/* Background: the counters per tick while every task sleeps. */
static void prvHandoffIdle( void )
{
    HandoffCounts_t xBefore, xAfter;

    if( !iBenchSelected( pcOnly, "handoffs/idle" ) )
    {
        return;
    }

    fprintf( stderr, "afr-cloud: handoffs/idle\n" );
    vTaskDelay( 2 );
    vHandoffSnapshot( &xBefore );
    vTaskDelay( pdMS_TO_TICKS( xParams.iHandoffIdleMs ) );
    vHandoffSnapshot( &xAfter );

    uint32_t ulTicks = xAfter.ulTicks - xBefore.ulTicks;
    vBenchResult( IMPL, "handoffs/idle", "ticks", ulTicks );
    prvHandoffReport( "handoffs/idle", "tick", &xBefore, &xAfter, ulTicks > 0 ? ( double ) ulTicks : 1.0 );
}

/* Hand-offs per publish: iHandoffPublishes publishes from this task, one at
 * a time (the same as rate/qQ/t1/64 but without the publisher tasks' own
 * bookkeeping). */
static void prvHandoffs( MQTTQoS_t xQoS )
{
    char cKey[ 48 ];
    uint8_t * pucPayload = ucPayloads[ 0 ];
    HandoffCounts_t xBefore, xAfter;
    int iErrors = 0;
    int n = xParams.iHandoffPublishes;

    snprintf( cKey, sizeof( cKey ), "handoffs/q%d/64", ( int ) xQoS );

    if( !iBenchSelected( pcOnly, cKey ) )
    {
        return;
    }

    fprintf( stderr, "afr-cloud: %s\n", cKey );
    vBenchFillPayload( pucPayload, 64, 0 );
    MQTTAgentPublishParams_t xPublish =
    {
        .pucTopic      = ( const uint8_t * ) RATE_TOPIC,
        .usTopicLength = ( uint16_t ) strlen( RATE_TOPIC ),
        .xQoS          = xQoS,
        .pvData        = pucPayload,
        .ulDataLength  = 64,
    };

    for( int i = 0; i < xParams.iWarmup; i++ )
    {
        ( void ) MQTT_AGENT_Publish( xClient, &xPublish, CALL_TIMEOUT );
    }

    double dStart = dBenchNow();
    vHandoffSnapshot( &xBefore );

    for( int i = 0; i < n; i++ )
    {
        if( MQTT_AGENT_Publish( xClient, &xPublish, CALL_TIMEOUT ) != eMQTTAgentSuccess )
        {
            iErrors++;
        }
    }

    vHandoffSnapshot( &xAfter );
    double dSeconds = dBenchNow() - dStart;

    vBenchResult( IMPL, cKey, "publishes", n );
    vBenchResult( IMPL, cKey, "errors", iErrors );
    vBenchResult( IMPL, cKey, "us_per_publish", dSeconds * 1e6 / ( double ) n );
    prvHandoffReport( cKey, "publish", &xBefore, &xAfter, ( double ) n );
}

/*------------------------------------------------------------ wake-up */

/*
 * Data-to-callback wake-up: the data must arrive while the agent sleeps, at
 * times unrelated to the ticks, so another process publishes it: a child
 * forked before the scheduler starts (a plain process; it never touches
 * FreeRTOS), with a minimal MQTT 3.1.1 client. It publishes QoS 0 messages
 * to this client's subscription at random 1.5-4.5 ms intervals and writes
 * each send time (CLOCK_MONOTONIC, shared by both processes) to shared
 * memory, and when its own copy of the message came back from the broker
 * (it subscribes too): that dates the arrival at the agent's socket. The
 * callback notes its own time and tick.
 */
typedef struct
{
    int iGo;    /* parent -> child: number of messages to send; -1: exit */
    int iSent;  /* child -> parent: messages sent so far */
    int iFailed;
    double dSent[ BENCH_MAX_SAMPLES ];
    double dArrived[ BENCH_MAX_SAMPLES ]; /* its own copy came back from the broker */
} WakeShared_t;

static WakeShared_t * pxWake;
static double dWakeCallback[ BENCH_MAX_SAMPLES ];
static TickType_t xWakeCallbackTick[ BENCH_MAX_SAMPLES ];
static volatile int iWakeReceived;

/* When each tick happened: a task of the highest priority (the wake-up task's)
 * notes the tick count and the wall time right after every tick. */
#define TICK_LOG    ( 16384 )
static TickType_t xTickNumber[ TICK_LOG ];
static double dTickTime[ TICK_LOG ];
static volatile int iTicksLogged;
static volatile int iTickLogStop;

static void prvTickLogTask( void * pvParameters )
{
    ( void ) pvParameters;

    while( !iTickLogStop && iTicksLogged < TICK_LOG )
    {
        vTaskDelay( 1 );
        xTickNumber[ iTicksLogged ] = xTaskGetTickCount();
        dTickTime[ iTicksLogged ] = dBenchNow();
        iTicksLogged++;
    }

    iTickLogStop = 2;
    vTaskDelete( NULL );
}

/* The last tick that happened at or before dTime (-1: before the log). */
static long prvTickAt( double dTime )
{
    int lo = 0;
    int hi = iTicksLogged - 1;

    if( ( hi < 0 ) || ( dTickTime[ 0 ] > dTime ) )
    {
        return -1;
    }

    while( lo < hi )
    {
        int mid = ( lo + hi + 1 ) / 2;

        if( dTickTime[ mid ] <= dTime )
        {
            lo = mid;
        }
        else
        {
            hi = mid - 1;
        }
    }

    return ( long ) xTickNumber[ lo ];
}

static int prvSendAll( int iFd,
                       const uint8_t * pucData,
                       size_t xLength )
{
    while( xLength > 0 )
    {
        ssize_t n = send( iFd, pucData, xLength, MSG_NOSIGNAL );

        if( n <= 0 )
        {
            if( ( n < 0 ) && ( errno == EINTR ) )
            {
                continue;
            }

            return -1;
        }

        pucData += n;
        xLength -= ( size_t ) n;
    }

    return 0;
}

static int prvRecvAll( int iFd,
                       uint8_t * pucData,
                       size_t xLength )
{
    while( xLength > 0 )
    {
        ssize_t n = recv( iFd, pucData, xLength, 0 );

        if( n <= 0 )
        {
            if( ( n < 0 ) && ( errno == EINTR ) )
            {
                continue;
            }

            return -1;
        }

        pucData += n;
        xLength -= ( size_t ) n;
    }

    return 0;
}

static void prvChildSleep( double dSeconds )
{
    struct timespec xTs = { ( time_t ) dSeconds, ( long ) ( ( dSeconds - ( double ) ( time_t ) dSeconds ) * 1e9 ) };

    while( nanosleep( &xTs, &xTs ) != 0 && errno == EINTR )
    {
    }
}

/* The child: waits for the go, connects, publishes, disconnects, exits. */
static void prvWakePublisher( uint16_t usPort,
                              pid_t xParent ) __attribute__( ( noreturn ) );
static void prvWakePublisher( uint16_t usPort,
                              pid_t xParent )
{
    static const char cTopic[] = WAKE_TOPIC;
    static const uint8_t ucConnect[] =
    {
        0x10, 24, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x04, 0xB0, /* clean session, keep alive 1200 s */
        0x00, 12, 'b', 'e', 'n', 'c', 'h', '-', 'w', 'a', 'k', 'e', 'u', 'p'
    };
    uint8_t ucPacket[ 2 + 2 + sizeof( cTopic ) - 1 + 64 ];
    uint8_t ucSubscribe[ 2 + 2 + 2 + sizeof( cTopic ) - 1 + 1 ];
    uint8_t ucConnack[ 4 ];
    uint8_t ucSuback[ 5 ];
    unsigned int uSeed = 12345;
    int iCount;
    int iFd;

    /* Dies with the benchmark; and never outlives it by more than 15 minutes. */
    prctl( PR_SET_PDEATHSIG, SIGKILL );

    for( int i = 0; ( iCount = __atomic_load_n( &pxWake->iGo, __ATOMIC_ACQUIRE ) ) == 0; i++ )
    {
        if( ( getppid() != xParent ) || ( i > 900 * 200 ) )
        {
            _exit( 0 );
        }

        prvChildSleep( 0.005 );
    }

    if( iCount < 0 )
    {
        _exit( 0 );
    }

    struct sockaddr_in xAddr = { .sin_family = AF_INET, .sin_port = htons( usPort ) };
    int iOne = 1;
    uint8_t ucEcho[ sizeof( ucPacket ) ];

    xAddr.sin_addr.s_addr = htonl( INADDR_LOOPBACK );
    iFd = socket( AF_INET, SOCK_STREAM, 0 );

    /* PUBLISH QoS 0: fixed header, topic, 64-byte payload. */
    ucPacket[ 0 ] = 0x30;
    ucPacket[ 1 ] = ( uint8_t ) ( sizeof( ucPacket ) - 2 );
    ucPacket[ 2 ] = 0;
    ucPacket[ 3 ] = ( uint8_t ) ( sizeof( cTopic ) - 1 );
    memcpy( &ucPacket[ 4 ], cTopic, sizeof( cTopic ) - 1 );
    /* SUBSCRIBE to the same topic (packet id 1, QoS 0): its own copy of each
     * message comes back when the agent's does, which dates the arrival. */
    ucSubscribe[ 0 ] = 0x82;
    ucSubscribe[ 1 ] = ( uint8_t ) ( sizeof( ucSubscribe ) - 2 );
    ucSubscribe[ 2 ] = 0;
    ucSubscribe[ 3 ] = 1;
    ucSubscribe[ 4 ] = 0;
    ucSubscribe[ 5 ] = ( uint8_t ) ( sizeof( cTopic ) - 1 );
    memcpy( &ucSubscribe[ 6 ], cTopic, sizeof( cTopic ) - 1 );
    ucSubscribe[ sizeof( ucSubscribe ) - 1 ] = 0;

    if( ( iFd < 0 ) ||
        ( setsockopt( iFd, IPPROTO_TCP, TCP_NODELAY, &iOne, sizeof( iOne ) ) != 0 ) ||
        ( connect( iFd, ( struct sockaddr * ) &xAddr, sizeof( xAddr ) ) != 0 ) ||
        ( prvSendAll( iFd, ucConnect, sizeof( ucConnect ) ) != 0 ) ||
        ( prvRecvAll( iFd, ucConnack, sizeof( ucConnack ) ) != 0 ) ||
        ( ucConnack[ 0 ] != 0x20 ) || ( ucConnack[ 3 ] != 0 ) ||
        ( prvSendAll( iFd, ucSubscribe, sizeof( ucSubscribe ) ) != 0 ) ||
        ( prvRecvAll( iFd, ucSuback, sizeof( ucSuback ) ) != 0 ) ||
        ( ucSuback[ 0 ] != 0x90 ) || ( ucSuback[ 4 ] != 0 ) )
    {
        __atomic_store_n( &pxWake->iFailed, 1, __ATOMIC_RELEASE );
        _exit( 1 );
    }

    for( int i = 0; i < iCount && i < BENCH_MAX_SAMPLES; i++ )
    {
        prvChildSleep( 0.0015 + 0.003 * ( double ) rand_r( &uSeed ) / ( double ) RAND_MAX );
        vBenchFillPayload( &ucPacket[ 4 + sizeof( cTopic ) - 1 ], 64, ( uint32_t ) i );
        pxWake->dSent[ i ] = dBenchNow();

        if( ( prvSendAll( iFd, ucPacket, sizeof( ucPacket ) ) != 0 ) ||
            ( prvRecvAll( iFd, ucEcho, sizeof( ucEcho ) ) != 0 ) ||
            ( memcmp( ucEcho, ucPacket, sizeof( ucEcho ) ) != 0 ) )
        {
            __atomic_store_n( &pxWake->iFailed, 1, __ATOMIC_RELEASE );
            _exit( 1 );
        }

        pxWake->dArrived[ i ] = dBenchNow();
        __atomic_store_n( &pxWake->iSent, i + 1, __ATOMIC_RELEASE );
    }

    static const uint8_t ucDisconnect[] = { 0xE0, 0x00 };
    ( void ) prvSendAll( iFd, ucDisconnect, sizeof( ucDisconnect ) );
    close( iFd );
    _exit( 0 );
}

/* Forks the publisher (in main(), before any task exists). */
static void prvStartWakePublisher( void )
{
    const char * pcPort = getenv( "AFR_TEST_BROKER_PORT" );

    pxWake = mmap( NULL, sizeof( WakeShared_t ), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0 );

    if( ( pxWake == MAP_FAILED ) || ( pcPort == NULL ) )
    {
        prvFatal( "setting up the wake-up publisher", errno );
    }

    fflush( stdout );
    fflush( stderr );
    pid_t xParent = getpid();
    pid_t xPid = fork();

    if( xPid < 0 )
    {
        prvFatal( "fork", errno );
    }

    if( xPid == 0 )
    {
        prvWakePublisher( ( uint16_t ) atoi( pcPort ), xParent );
    }
}

static MQTTBool_t prvWakeCallback( void * pvContext,
                                   const MQTTPublishData_t * const pxPublish )
{
    uint32_t ulSeq = ulBenchPayloadSeq( pxPublish->pvData, pxPublish->ulDataLength );

    ( void ) pvContext;

    if( ( pxPublish->ulDataLength == 64 ) && ( ulSeq < BENCH_MAX_SAMPLES ) && ( dWakeCallback[ ulSeq ] == 0.0 ) )
    {
        dWakeCallback[ ulSeq ] = dBenchNow();
        xWakeCallbackTick[ ulSeq ] = xTaskGetTickCount();
        iWakeReceived++;
    }

    return eMQTTFalse;
}

static void prvWakeup( const char * pcKey )
{
    static double dTicks[ BENCH_MAX_SAMPLES ];
    int iCount = xParams.iWakeSamples < BENCH_MAX_SAMPLES ? xParams.iWakeSamples : BENCH_MAX_SAMPLES;
    int n = 0;
    int iWithinOne = 0;
    MQTTAgentReturnCode_t xRc;

    if( !iBenchSelected( pcOnly, pcKey ) )
    {
        return;
    }

    fprintf( stderr, "afr-cloud: %s\n", pcKey );

    MQTTAgentSubscribeParams_t xSubscribe =
    {
        .pucTopic                 = ( const uint8_t * ) WAKE_TOPIC,
        .usTopicLength            = ( uint16_t ) strlen( WAKE_TOPIC ),
        .xQoS                     = eMQTTQoS0,
        .pvPublishCallbackContext = NULL,
        .pxPublishCallback        = prvWakeCallback,
    };

    if( ( xRc = MQTT_AGENT_Subscribe( xClient, &xSubscribe, CALL_TIMEOUT ) ) != eMQTTAgentSuccess )
    {
        prvFatal( "MQTT_AGENT_Subscribe", xRc );
    }

    if( xTaskCreate( prvTickLogTask, "ticklog", configMINIMAL_STACK_SIZE, NULL, configMAX_PRIORITIES - 1, NULL ) != pdPASS )
    {
        prvFatal( "creating the tick log task", 0 );
    }

    vTaskDelay( 2 );
    double dStart = dBenchNow();
    TickType_t xStartTick = xTaskGetTickCount();

    __atomic_store_n( &pxWake->iGo, iCount, __ATOMIC_RELEASE );

    /* Until everything came back, the child gave up, or 30 s. */
    for( double dGrace = 0.0; ; )
    {
        vTaskDelay( pdMS_TO_TICKS( 20 ) );

        if( ( iWakeReceived >= iCount ) || __atomic_load_n( &pxWake->iFailed, __ATOMIC_ACQUIRE ) ||
            ( dBenchNow() - dStart > 30.0 ) )
        {
            break;
        }

        if( __atomic_load_n( &pxWake->iSent, __ATOMIC_ACQUIRE ) >= iCount )
        {
            if( dGrace == 0.0 )
            {
                dGrace = dBenchNow() + 2.0; /* Polling waits up to MQTT_TASK_MAX_BLOCK_TICKS. */
            }
            else if( dBenchNow() > dGrace )
            {
                break;
            }
        }
    }

    double dUsPerTick = ( dBenchNow() - dStart ) * 1e6 / ( double ) ( xTaskGetTickCount() - xStartTick );
    int iSent = __atomic_load_n( &pxWake->iSent, __ATOMIC_ACQUIRE );
    int iUnplaced = 0;

    iTickLogStop = 1;

    while( iTickLogStop != 2 )
    {
        vTaskDelay( 1 );
    }

    /* The broker's forwarding, as the publisher saw it for its own copy. */
    static double dHops[ BENCH_MAX_SAMPLES ];

    for( int i = 0; i < iSent; i++ )
    {
        dHops[ i ] = pxWake->dArrived[ i ] - pxWake->dSent[ i ];
    }

    qsort( dHops, ( size_t ) iSent, sizeof( double ), iBenchCompare );

    for( int i = 0; i < iSent; i++ )
    {
        if( dWakeCallback[ i ] > 0.0 )
        {
            /* Ticks from the data's arrival to its callback: how many ticks
             * happened after the last tick before the arrival, up to the
             * callback's tick. 1: the callback ran at the first tick after
             * the data arrived. */
            long lBefore = prvTickAt( pxWake->dArrived[ i ] );

            if( lBefore < 0 )
            {
                iUnplaced++;
                continue;
            }

            dSamples[ n ] = dWakeCallback[ i ] - pxWake->dSent[ i ];
            dTicks[ n ] = ( double ) ( ( long ) xWakeCallbackTick[ i ] - lBefore );
            iWithinOne += ( dTicks[ n ] <= 1.0 ) ? 1 : 0;
            n++;
        }
    }

    MQTTAgentUnsubscribeParams_t xUnsubscribe =
    {
        .pucTopic      = ( const uint8_t * ) WAKE_TOPIC,
        .usTopicLength = ( uint16_t ) strlen( WAKE_TOPIC ),
    };

    if( ( xRc = MQTT_AGENT_Unsubscribe( xClient, &xUnsubscribe, CALL_TIMEOUT ) ) != eMQTTAgentSuccess )
    {
        prvFatal( "MQTT_AGENT_Unsubscribe", xRc );
    }

    qsort( dTicks, ( size_t ) n, sizeof( double ), iBenchCompare );
    qsort( dSamples, ( size_t ) n, sizeof( double ), iBenchCompare );
    vBenchResult( IMPL, pcKey, "samples", n );
    vBenchResult( IMPL, pcKey, "errors", ( iCount - n - iUnplaced ) + __atomic_load_n( &pxWake->iFailed, __ATOMIC_ACQUIRE ) );
    vBenchResult( IMPL, pcKey, "us_per_tick", dUsPerTick );
    vBenchResult( IMPL, pcKey, "broker_hop_us", dBenchPercentile( dHops, iSent, 50 ) * 1e6 );
    vBenchResult( IMPL, pcKey, "ticks_logged", iTicksLogged );
    vBenchResult( IMPL, pcKey, "median_ticks", dBenchPercentile( dTicks, n, 50 ) );
    vBenchResult( IMPL, pcKey, "p99_ticks", dBenchPercentile( dTicks, n, 99 ) );
    vBenchResult( IMPL, pcKey, "max_ticks", n > 0 ? dTicks[ n - 1 ] : 0.0 );
    vBenchResult( IMPL, pcKey, "within_1_tick_pct", n > 0 ? 100.0 * iWithinOne / n : 0.0 );
    vBenchResult( IMPL, pcKey, "p50_us", dBenchPercentile( dSamples, n, 50 ) * 1e6 );
    vBenchResult( IMPL, pcKey, "max_us", n > 0 ? dSamples[ n - 1 ] * 1e6 : 0.0 );
}

/*--------------------------------------------------------------------- main */

static void prvBenchTask( void * pvParameters )
{
    const char * pcPort = getenv( "AFR_TEST_BROKER_PORT" );
    MQTTAgentReturnCode_t xRc;
    UBaseType_t uxTasks;

    ( void ) pvParameters;

    if( pcPort == NULL )
    {
        prvFatal( "AFR_TEST_BROKER_PORT is not set; getenv", 0 );
    }

    double dRunStart = dBenchNow();
    TickType_t xRunStartTick = xTaskGetTickCount();

    xFinished = xSemaphoreCreateCounting( BENCH_MAX_TASKS, 0 );
    xEcho = xSemaphoreCreateBinary();

    for( int t = 0; t < BENCH_MAX_TASKS; t++ )
    {
        xGo[ t ] = xSemaphoreCreateBinary();

        if( ( xGo[ t ] == NULL ) ||
            ( xTaskCreate( prvPublisherTask, "pub", configMINIMAL_STACK_SIZE, ( void * ) ( uintptr_t ) t,
                           WORKER_PRIORITY, NULL ) != pdPASS ) )
        {
            prvFatal( "creating a publisher task", t );
        }
    }

    if( ( xFinished == NULL ) || ( xEcho == NULL ) )
    {
        prvFatal( "creating semaphores", 0 );
    }

    if( ( xRc = MQTT_AGENT_Create( &xClient ) ) != eMQTTAgentSuccess )
    {
        prvFatal( "MQTT_AGENT_Create", xRc );
    }

    MQTTAgentConnectParams_t xConnect =
    {
        .pcURL            = "127.0.0.1",
        .xFlags           = mqttagentURL_IS_IP_ADDRESS,
        .usPort           = ( uint16_t ) atoi( pcPort ),
        .pucClientId      = ( const uint8_t * ) "bench-afr",
        .usClientIdLength = ( uint16_t ) strlen( "bench-afr" ),
    };

    if( ( xRc = MQTT_AGENT_Connect( xClient, &xConnect, CALL_TIMEOUT ) ) != eMQTTAgentSuccess )
    {
        prvFatal( "MQTT_AGENT_Connect", xRc );
    }

    /* Heap in use, connected and idle: kernel and agent tasks, this task and
     * the publisher tasks, the agent's state, the socket. */
    size_t xBootPeak = prvHeapPeak();
    size_t xBase = prvHeapInUse();
    size_t xStacks = prvTaskStacks( &uxTasks );

    for( int q = 0; q < BENCH_COUNT( iBenchQoS ) && !BENCH_WAKEUP_ONLY; q++ )
    {
        for( int t = 0; t < BENCH_COUNT( iBenchTasks ); t++ )
        {
            for( int p = 0; p < BENCH_COUNT( iBenchPayloads ); p++ )
            {
                prvRate( ( MQTTQoS_t ) iBenchQoS[ q ], iBenchTasks[ t ], iBenchPayloads[ p ] );
            }
        }
    }

    for( int q = 0; q < BENCH_COUNT( iBenchRttQoS ) && !BENCH_WAKEUP_ONLY; q++ )
    {
        for( int p = 0; p < BENCH_COUNT( iBenchPayloads ); p++ )
        {
            prvRoundTrip( ( MQTTQoS_t ) iBenchRttQoS[ q ], iBenchPayloads[ p ] );
        }
    }

    for( int q = 0; q < 2 && !BENCH_WAKEUP_ONLY; q++ )
    {
        prvHandoffs( ( MQTTQoS_t ) ( 1 - q ) );
    }

    if( !BENCH_WAKEUP_ONLY )
    {
        prvHandoffIdle();
    }

    prvWakeup( "wakeup/q0/64" );

    vBenchResult( IMPL, "heap", "total_bytes", ( double ) configTOTAL_HEAP_SIZE );
    vBenchResult( IMPL, "heap", "base_bytes", ( double ) xBase );
    vBenchResult( IMPL, "heap", "startup_peak_bytes", ( double ) xBootPeak );
    vBenchResult( IMPL, "heap", "peak_bytes", ( double ) xWorkloadPeakMax );
    vBenchResult( IMPL, "heap", "task_stacks_bytes", ( double ) xStacks );
    vBenchResult( IMPL, "heap", "tasks", ( double ) uxTasks );
    vBenchResult( IMPL, "heap", "pool_static_bytes",
                  ( double ) bufferpoolconfigNUM_BUFFERS * ( double ) bufferpoolconfigBUFFER_SIZE );

    if( ( xRc = MQTT_AGENT_Disconnect( xClient, CALL_TIMEOUT ) ) != eMQTTAgentSuccess )
    {
        prvFatal( "MQTT_AGENT_Disconnect", xRc );
    }

    if( ( xRc = MQTT_AGENT_Delete( xClient ) ) != eMQTTAgentSuccess )
    {
        prvFatal( "MQTT_AGENT_Delete", xRc );
    }

    double dRun = dBenchNow() - dRunStart;
    TickType_t xRunTicks = xTaskGetTickCount() - xRunStartTick;
    vBenchResult( IMPL, "sim", "us_per_tick", xRunTicks > 0 ? dRun * 1e6 / ( double ) xRunTicks : 0.0 );
    vBenchResult( IMPL, "run", "seconds", dRun );
    exit( 0 );
}

int main( int argc,
          char ** argv )
{
    xParams = xBenchParams( iBenchArgs( argc, argv, &pcOnly ) );
    /* Before the first task (thread) exists: the child is a plain process. */
    prvStartWakePublisher();
    BUFFERPOOL_Init();
    MQTT_AGENT_Init();

    if( xTaskCreate( prvBenchTask, "bench", configMINIMAL_STACK_SIZE * 2, NULL, MAIN_PRIORITY, NULL ) != pdPASS )
    {
        prvFatal( "xTaskCreate", 0 );
    }

    vTaskStartScheduler();
    return 1;
}
