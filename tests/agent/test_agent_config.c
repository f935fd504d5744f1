/*
 * The agent's configuration macros change its behaviour. This program and its
 * library are built with tests/config_small/ (every value non-default) and with
 * the Secure Sockets port WITHOUT the wake-up callback, so the agent polls.
 * Run by tests/tools/run_with_broker.py --relay --fake.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "aws_mqtt_agent.h"
#include "aws_mqtt_agent_config.h"
#include "aws_mqtt_agent_config_defaults.h"
#include "aws_mqtt_agent_tls.h"

#include "agent_util.h"
#include "test_support.h"

#if ( mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT != 0 ) || ( mqttconfigMAX_BROKERS != 2 )
    #error "built with the wrong configuration: expected tests/config_small"
#endif

/*------------------------- the project's hooks the config names --------------------*/

static volatile int iGets = 0;
static volatile int iReturns = 0;

uint8_t * TestGetFreeBuffer( uint32_t * pulBufferLength )
{
    uint8_t * p = BUFFERPOOL_GetFreeBuffer( pulBufferLength );

    if( p != NULL )
    {
        iGets++;
    }

    return p;
}

void TestReturnBuffer( uint8_t * pucBuffer )
{
    iReturns++;
    BUFFERPOOL_ReturnBuffer( pucBuffer );
}

/* mqttconfigENABLE_DEBUG_LOGS is 1: the library logs through vLoggingPrintf. */
static char cLog[ 2048 ];

void vLoggingPrintf( const char * pcFormat, ... )
{
    char cLine[ 256 ];
    va_list xArgs;

    va_start( xArgs, pcFormat );
    vsnprintf( cLine, sizeof( cLine ), pcFormat, xArgs );
    va_end( xArgs );
    printf( "log: %s", cLine );

    if( strlen( cLog ) + strlen( cLine ) < sizeof( cLog ) )
    {
        strcat( cLog, cLine );
    }
}

/*---------------------------------------- helpers ----------------------------------*/

static volatile int iDisconnects = 0;
static volatile int iPublishes = 0;
static volatile TickType_t xLastPublishTick = 0;
static char cLastPayload[ 512 ];
static volatile uint32_t ulLastLength = 0;

static BaseType_t prvCallback( void * pvUserData,
                               const MQTTAgentCallbackParams_t * const pxParams )
{
    ( void ) pvUserData;

    if( pxParams->xMQTTEvent == eMQTTAgentDisconnect )
    {
        iDisconnects++;
    }
    else
    {
        const MQTTPublishData_t * d = &pxParams->u.xPublishData;
        ulLastLength = d->ulDataLength;
        memcpy( cLastPayload, d->pvData, d->ulDataLength < sizeof( cLastPayload ) ? d->ulDataLength : sizeof( cLastPayload ) );
        xLastPublishTick = xTaskGetTickCount();
        iPublishes++;
    }

    return pdFALSE;
}

static MQTTAgentReturnCode_t prvSubscribe( MQTTAgentHandle_t xClient, const char * pcFilter )
{
    MQTTAgentSubscribeParams_t xParams = { ( const uint8_t * ) pcFilter, ( uint16_t ) strlen( pcFilter ), eMQTTQoS1 };

    return MQTT_AGENT_Subscribe( xClient, &xParams, T_TIMEOUT );
}

/* Byte n of the last CONNECT the fake server received. */
static int prvConnectByte( const char * pcHex, int n )
{
    unsigned int b = 0;

    if( ( int ) strlen( pcHex ) < 2 * ( n + 1 ) || sscanf( pcHex + 2 * n, "%2x", &b ) != 1 )
    {
        return -1;
    }

    return ( int ) b;
}

/*----------------------------------------- cases -----------------------------------*/

static void prvLayout( void )
{
    /* mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT 0: no callback fields. */
    TEST_CHECK( sizeof( MQTTAgentSubscribeParams_t ) == 12 );
}

static void prvTaskStackAndPriority( void )
{
    TaskHandle_t xAgent = xTaskGetHandle( "MQTT" );
    TaskStatus_t xStatus;

    TEST_ASSERT( xAgent != NULL );
    vTaskGetInfo( xAgent, &xStatus, pdFALSE, eRunning );
    TEST_CHECK( xStatus.uxBasePriority == mqttconfigMQTT_TASK_PRIORITY );
    uint32_t ulDepth = ( uint32_t ) ( xStatus.pxEndOfStack - xStatus.pxStackBase ) + 1U;
    /* The kernel aligns the recorded end of the stack down by a few words. */
    TEST_CHECK_MSG( ulDepth <= mqttconfigMQTT_TASK_STACK_DEPTH && ulDepth + 8 >= mqttconfigMQTT_TASK_STACK_DEPTH,
                    "stack depth %lu", ( unsigned long ) ulDepth );
}

static void prvMetricsAndKeepAliveSeconds( void )
{
    MQTTAgentHandle_t xClient = NULL;
    char cHex[ 512 ] = { 0 };

    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( xTestControl( "fake-script normal-connack", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestFakePort(), "afr-config", prvCallback, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( xTestControl( "fake-last-connect", cHex, sizeof( cHex ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    /* 10 rl 00 04 'M' 'Q' 'T' 'T' 04 flags ka_hi ka_lo: one-byte remaining length here. */
    TEST_CHECK( prvConnectByte( cHex, 0 ) == 0x10 );
    int iFlags = prvConnectByte( cHex, 9 );
    TEST_CHECK_MSG( iFlags >= 0 && ( iFlags & 0x80 ) == 0, "flags %02x: no user name without metrics", iFlags );
    TEST_CHECK( ( prvConnectByte( cHex, 10 ) << 8 | prvConnectByte( cHex, 11 ) ) == mqttconfigKEEP_ALIVE_INTERVAL_SECONDS );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xClient ) == eMQTTAgentSuccess );
}

static void prvMaxBrokers( void )
{
    MQTTAgentHandle_t x[ 3 ];

    TEST_CHECK( MQTT_AGENT_Create( &x[ 0 ] ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Create( &x[ 1 ] ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Create( &x[ 2 ] ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Delete( x[ 0 ] ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( x[ 1 ] ) == eMQTTAgentSuccess );
}

static MQTTAgentHandle_t xShared = NULL;
static volatile int iHelperDone = 0;
static volatile MQTTAgentReturnCode_t xHelperResult[ 2 ];

static void prvBlockedPublisher( void * pv )
{
    int i = ( int ) ( uintptr_t ) pv;

    xHelperResult[ i ] = xUtilPublish( xShared, "cfg/ops", eMQTTQoS1, "x", 1, 3000 );
    taskENTER_CRITICAL();
    iHelperDone++;
    taskEXIT_CRITICAL();
    vTaskDelete( NULL );
}

static void prvMaxParallelOps( void )
{
    TEST_ASSERT( MQTT_AGENT_Create( &xShared ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xShared, usTestRelayPort(), "afr-config-ops", prvCallback, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( xTestControl( "relay-freeze", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    iHelperDone = 0;

    for( uintptr_t i = 0; i < mqttconfigMAX_PARALLEL_OPS; i++ )
    {
        xTaskCreate( prvBlockedPublisher, "pub", configMINIMAL_STACK_SIZE, ( void * ) i, tskIDLE_PRIORITY + 1, NULL );
    }

    vTaskDelay( 50 );
    /* Both operation slots are taken: a third caller waits for one and times out. */
    TickType_t xStart = xTaskGetTickCount();
    TEST_CHECK( xUtilPublish( xShared, "cfg/ops", eMQTTQoS0, "y", 1, 100 ) == eMQTTAgentTimeout );
    TEST_CHECK( xTaskGetTickCount() - xStart >= 100 );
    TEST_ASSERT( xTestControl( "relay-thaw", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &iHelperDone, mqttconfigMAX_PARALLEL_OPS, 5000 ) == pdTRUE );
    TEST_CHECK( xHelperResult[ 0 ] == eMQTTAgentSuccess && xHelperResult[ 1 ] == eMQTTAgentSuccess );
}

static void prvKeepAlive( void )
{
    /* Answered PINGREQs keep an idle connection up well past the interval. */
    iDisconnects = 0;
    TEST_CHECK( xUtilPublish( xShared, "cfg/ka", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    vTaskDelay( 3 * ( mqttconfigKEEP_ALIVE_ACTUAL_INTERVAL_TICKS + mqttconfigKEEP_ALIVE_TIMEOUT_TICKS ) );
    TEST_CHECK( iDisconnects == 0 );

    /* A link that swallows PINGREQ is declared dead: PINGREQ after the interval
     * of silence, the disconnect event after the timeout. */
    TEST_CHECK( xUtilPublish( xShared, "cfg/ka", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TickType_t xStart = xTaskGetTickCount(); /* The agent last sent just before this. */
    TEST_ASSERT( xTestControl( "relay-freeze", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &iDisconnects, 1, 5000 ) == pdTRUE );
    TickType_t xTook = xTaskGetTickCount() - xStart;
    const TickType_t xExpected = mqttconfigKEEP_ALIVE_ACTUAL_INTERVAL_TICKS + mqttconfigKEEP_ALIVE_TIMEOUT_TICKS;
    TEST_CHECK_MSG( xTook + 30 >= xExpected && xTook <= xExpected + mqttconfigMQTT_TASK_MAX_BLOCK_TICKS + 60,
                    "dead after %lu ticks, expected about %lu", ( unsigned long ) xTook, ( unsigned long ) xExpected );
    TEST_CHECK( iDisconnects == 1 );
    TEST_ASSERT( xTestControl( "relay-thaw", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( xUtilPublish( xShared, "cfg/ka", eMQTTQoS0, "x", 1, 100 ) == eMQTTAgentFailure );
}

static void prvSendTimeout( void )
{
    static char cBig[ 4096 ];
    int iSent = 0;
    TickType_t xFailedAfter = 0;

    iDisconnects = 0;
    TEST_ASSERT( xUtilConnect( xShared, usTestRelayPort(), "afr-config-snd", prvCallback, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( xTestControl( "relay-freeze", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );

    /* Fill the socket buffers; the publish that cannot be written within
     * mqttconfigTCP_SEND_TIMEOUT_MS fails and drops the connection. */
    for( ; iSent < 20000; iSent++ )
    {
        TickType_t xStart = xTaskGetTickCount();

        if( xUtilPublish( xShared, "cfg/snd", eMQTTQoS0, cBig, sizeof( cBig ), 10000 ) != eMQTTAgentSuccess )
        {
            xFailedAfter = xTaskGetTickCount() - xStart;
            break;
        }
    }

    vTestNote( "send blocked after %d publishes of 4 KB", iSent );
    TEST_CHECK( iSent < 20000 );
    TEST_CHECK_MSG( xFailedAfter >= pdMS_TO_TICKS( mqttconfigTCP_SEND_TIMEOUT_MS ) - 5 &&
                    xFailedAfter <= pdMS_TO_TICKS( mqttconfigTCP_SEND_TIMEOUT_MS ) + 300,
                    "the failing publish took %lu ticks", ( unsigned long ) xFailedAfter );
    TEST_CHECK( iDisconnects == 1 );
    TEST_ASSERT( xTestControl( "relay-thaw", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
}

static void prvConnackTimeout( void )
{
    MQTTAgentHandle_t xClient = NULL;

    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( xTestControl( "fake-script no-connack", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    /* The connect call's own timeout bounds the wait for CONNACK, not
     * mqttconfigKEEP_ALIVE_TIMEOUT_TICKS (300 here), as in AFR. */
    TickType_t xStart = xTaskGetTickCount();
    TEST_CHECK( xUtilConnect( xClient, usTestFakePort(), "afr-noack", prvCallback, NULL, 900 ) == eMQTTAgentTimeout );
    TickType_t xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xTook >= 900 && xTook < 1100, "no CONNACK: failed after %lu ticks", ( unsigned long ) xTook );
    TEST_ASSERT( xTestControl( "fake-script normal-connack", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( MQTT_AGENT_Delete( xClient ) == eMQTTAgentSuccess );
}

static void prvPollingBuffersAndLogs( void )
{
    char cMedium[ 200 ];
    static char cLarge[ 300 ];
    TickType_t xLatencies[ 11 ];

    TEST_ASSERT( xUtilConnect( xShared, usTestBrokerPort(), "afr-config-rx", prvCallback, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    /* Without subscription management every publish reaches the connect callback. */
    TEST_ASSERT( prvSubscribe( xShared, "cfg/rx/#" ) == eMQTTAgentSuccess );

    /* The socket cannot wake the agent: it polls every MQTT_TASK_MAX_BLOCK_TICKS. */
    for( int i = 0; i < 11; i++ )
    {
        int iBefore = iPublishes;
        TEST_CHECK( xUtilPublish( xShared, "cfg/rx/poll", eMQTTQoS0, "p", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
        TickType_t xSent = xTaskGetTickCount();
        TEST_CHECK( xUtilWaitFor( &iPublishes, iBefore + 1, 1000 ) == pdTRUE );
        xLatencies[ i ] = xLastPublishTick - xSent;
        vTaskDelay( 7 );
    }

    /* Median: a loaded host can delay any single wake-up of a simulated task. */
    for( int i = 0; i < 11; i++ )
    {
        for( int j = i + 1; j < 11; j++ )
        {
            if( xLatencies[ j ] < xLatencies[ i ] )
            {
                TickType_t t = xLatencies[ i ];
                xLatencies[ i ] = xLatencies[ j ];
                xLatencies[ j ] = t;
            }
        }
    }

    vTestNote( "publish-to-callback ticks while polling: median %lu, max %lu",
               ( unsigned long ) xLatencies[ 5 ], ( unsigned long ) xLatencies[ 10 ] );
    TEST_CHECK( xLatencies[ 5 ] <= mqttconfigMQTT_TASK_MAX_BLOCK_TICKS + 5 );

    /* 200 bytes arrive whole through 16-byte reads (RX_BUFFER_SIZE is no size limit). */
    for( size_t i = 0; i < sizeof( cMedium ); i++ )
    {
        cMedium[ i ] = ( char ) ( 'a' + i % 26 );
    }

    int iBefore = iPublishes;
    int iGetsBefore = iGets;
    int iReturnsBefore = iReturns;
    TEST_CHECK( xUtilPublish( xShared, "cfg/rx/medium", eMQTTQoS1, cMedium, sizeof( cMedium ), T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &iPublishes, iBefore + 1, 1000 ) == pdTRUE );
    TEST_CHECK( ulLastLength == sizeof( cMedium ) && memcmp( cLastPayload, cMedium, sizeof( cMedium ) ) == 0 );
    /* The configured buffer functions served the outgoing and the incoming packet. */
    TEST_CHECK( iGets - iGetsBefore >= 2 );
    TEST_CHECK( iReturns - iReturnsBefore == iGets - iGetsBefore );

    /* 300 bytes cannot fit a 256-byte pool buffer: dropped, logged, and the
     * connection stays usable. */
    memset( cLarge, 'L', sizeof( cLarge ) );
    cLog[ 0 ] = '\0';
    iBefore = iPublishes;
    TEST_CHECK( xUtilPublish( xShared, "cfg/rx/large", eMQTTQoS1, cLarge, sizeof( cLarge ), T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xShared, "cfg/rx/after", eMQTTQoS1, "after", 5, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &iPublishes, iBefore + 1, 1000 ) == pdTRUE );
    vTaskDelay( 100 );
    TEST_CHECK( iPublishes == iBefore + 1 );
    TEST_CHECK( ulLastLength == 5 && memcmp( cLastPayload, "after", 5 ) == 0 );
    TEST_CHECK_MSG( strstr( cLog, "dropped" ) != NULL, "log: %s", cLog );

    /* A refused buffer return is logged too. */
    uint8_t ucForeign[ 4 ];
    cLog[ 0 ] = '\0';
    BUFFERPOOL_ReturnBuffer( ucForeign );
    TEST_CHECK_MSG( strstr( cLog, "refused" ) != NULL, "log: %s", cLog );
    TEST_CHECK( iUtilPoolFree() == bufferpoolconfigNUM_BUFFERS );
    TEST_CHECK( MQTT_AGENT_Disconnect( xShared, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xShared ) == eMQTTAgentSuccess );
}

/* This config names no mqttconfigTLS_TIME_FXN / mqttconfigTLS_RANDOM_FXN and
 * sets mqttconfigTLS_STRICT_TIME: a TLS connect must fail at once (no
 * certificate accepted without the time), say why, and log it; nothing is
 * left behind. */
static void prvTlsWithoutHooks( void )
{
    MQTTAgentHandle_t xClient = NULL;
    MQTTAgentTLSError_t xWhy = eMQTTAgentTLSNoError;
    MQTTAgentConnectParams_t xParams =
    {
        .pcURL            = "127.0.0.1",
        .xFlags           = mqttagentREQUIRE_TLS | mqttagentURL_IS_IP_ADDRESS,
        .usPort           = usTestBrokerPort(),
        .pucClientId      = ( const uint8_t * ) "afr-config-tls",
        .usClientIdLength = 14,
    };
    size_t xHeap;
    TickType_t xStart;

    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    xHeap = xPortGetFreeHeapSize();
    cLog[ 0 ] = '\0';
    xStart = xTaskGetTickCount();
    TEST_CHECK( MQTT_AGENT_Connect( xClient, &xParams, T_TIMEOUT ) == eMQTTAgentFailure );
    TEST_CHECK( xTaskGetTickCount() - xStart < pdMS_TO_TICKS( 1000 ) );
    TEST_CHECK( MQTT_AGENT_GetTLSError( xClient, &xWhy ) == eMQTTAgentSuccess );
    TEST_CHECK_MSG( xWhy == eMQTTAgentTLSNoTime, "TLS error %d", ( int ) xWhy );
    TEST_CHECK_MSG( strstr( cLog, "mqttconfigTLS_TIME_FXN" ) != NULL, "log: %s", cLog );
    TEST_CHECK( xPortGetFreeHeapSize() == xHeap );
    TEST_CHECK( iUtilPoolFree() == bufferpoolconfigNUM_BUFFERS );
    TEST_CHECK( MQTT_AGENT_Delete( xClient ) == eMQTTAgentSuccess );
}

static void prvBody( void )
{
    vTestRun( "subscribe_params_layout", prvLayout );
    vTestRun( "task_stack_and_priority", prvTaskStackAndPriority );
    vTestRun( "metrics_off_and_keep_alive_seconds", prvMetricsAndKeepAliveSeconds );
    vTestRun( "max_brokers", prvMaxBrokers );
    vTestRun( "max_parallel_ops", prvMaxParallelOps );
    vTestRun( "keep_alive_detects_dead_link", prvKeepAlive );
    vTestRun( "tcp_send_timeout", prvSendTimeout );
    vTestRun( "connack_timeout", prvConnackTimeout );
    vTestRun( "polling_rx_size_buffers_and_logs", prvPollingBuffersAndLogs );
    vTestRun( "tls_without_time_and_random_hooks", prvTlsWithoutHooks );
    vTestFinish();
}

int main( void )
{
    vUtilAgentTestMain( prvBody, 200000 );
}
