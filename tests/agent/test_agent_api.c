/*
 * The MQTT agent's C API against a real Mosquitto on loopback, under the
 * FreeRTOS POSIX simulator: every function and return code, QoS 0/1/2, the
 * callback order and buffer ownership rules, timeouts with a late answer, and
 * bad input from C. Run by tests/tools/run_with_broker.py (--relay).
 */
#include <stdio.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "aws_mqtt_agent.h"
#include "aws_mqtt_agent_config.h"
#include "aws_mqtt_agent_config_defaults.h"

#include "agent_util.h"
#include "test_support.h"

#define NUM_BUFFERS    ( bufferpoolconfigNUM_BUFFERS )

/*-------------------------------- recording callbacks ------------------------------*/

#define MAX_CALLS    32

typedef struct
{
    volatile int iCount;
    char cOrder[ MAX_CALLS + 1 ]; /* One letter per callback invocation. */
    MQTTQoS_t xLastQoS;
    char cLastPayload[ 64 ];
    MQTTBufferHandle_t xKept;
    volatile MQTTAgentReturnCode_t xNested; /* What an API call from inside the callback returned. */
} Recorder_t;

static Recorder_t xRec;
static char cKeepLetter = 0;    /* The callback with this letter takes the buffer. */
static BaseType_t xNestCall = pdFALSE;
static MQTTAgentHandle_t xNestHandle = NULL;

static void prvResetRecorder( void )
{
    memset( &xRec, 0, sizeof( xRec ) );
    cKeepLetter = 0;
    xNestCall = pdFALSE;
}

static MQTTBool_t prvRecord( char cLetter, const MQTTPublishData_t * pxData )
{
    int n = xRec.iCount;

    if( n < MAX_CALLS )
    {
        xRec.cOrder[ n ] = cLetter;
    }

    xRec.xLastQoS = pxData->xQos;
    snprintf( xRec.cLastPayload, sizeof( xRec.cLastPayload ), "%.*s",
              ( int ) pxData->ulDataLength, ( const char * ) pxData->pvData );

    if( xNestCall == pdTRUE )
    {
        xRec.xNested = xUtilPublish( xNestHandle, "api/nested", eMQTTQoS0, "x", 1, 10 );
    }

    xRec.iCount = n + 1;

    if( cLetter == cKeepLetter )
    {
        xRec.xKept = pxData->xBuffer;
        return eMQTTTrue;
    }

    return eMQTTFalse;
}

static MQTTBool_t prvCbA( void * pvCtx, const MQTTPublishData_t * const pxData )
{
    ( void ) pvCtx;
    return prvRecord( 'A', pxData );
}

static MQTTBool_t prvCbB( void * pvCtx, const MQTTPublishData_t * const pxData )
{
    ( void ) pvCtx;
    return prvRecord( 'B', pxData );
}

static MQTTBool_t prvCbC( void * pvCtx, const MQTTPublishData_t * const pxData )
{
    ( void ) pvCtx;
    return prvRecord( 'C', pxData );
}

/* The connect callback: records 'P' for publishes, counts disconnects. */
static volatile int iDisconnects = 0;
static BaseType_t xConnectKeeps = pdFALSE;

static BaseType_t prvConnectCallback( void * pvUserData,
                                      const MQTTAgentCallbackParams_t * const pxParams )
{
    TEST_CHECK( pvUserData == ( void * ) &xRec );

    if( pxParams->xMQTTEvent == eMQTTAgentDisconnect )
    {
        iDisconnects++;
        return pdFALSE;
    }

    MQTTBool_t xKeep = prvRecord( 'P', &pxParams->u.xPublishData );
    ( void ) xKeep;

    if( xConnectKeeps == pdTRUE )
    {
        xRec.xKept = pxParams->u.xPublishData.xBuffer;
        return pdTRUE;
    }

    return pdFALSE;
}

/*---------------------------------------- cases ------------------------------------*/

static MQTTAgentHandle_t xClient = NULL;

static void prvConnectMain( void )
{
    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( xClient != NULL );
    TEST_ASSERT( xUtilConnect( xClient, usTestBrokerPort(), "afr-api-main", prvConnectCallback, &xRec, T_TIMEOUT ) == eMQTTAgentSuccess );
    /* A second connect on a connected client fails. */
    TEST_CHECK( xUtilConnect( xClient, usTestBrokerPort(), "afr-api-main", prvConnectCallback, &xRec, T_TIMEOUT ) == eMQTTAgentFailure );
}

static void prvMetricsUserName( void )
{
    /* mqttconfigENABLE_METRICS 1: the CONNECT user name carries the SDK, the
     * kernel version and configPLATFORM_NAME, as AFR v1's agent sent them. */
    static const char cExpected[] = "?SDK=AmazonFreeRTOS&Version=" tskKERNEL_VERSION_NUMBER "&Platform=" configPLATFORM_NAME;
    char cExpectedHex[ 2 * sizeof( cExpected ) + 1 ];
    char cHex[ 512 ] = { 0 };
    MQTTAgentHandle_t xProbe = NULL;

    for( size_t i = 0; i + 1 < sizeof( cExpected ); i++ )
    {
        snprintf( &cExpectedHex[ 2 * i ], 3, "%02x", ( unsigned char ) cExpected[ i ] );
    }

    TEST_ASSERT( MQTT_AGENT_Create( &xProbe ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilConnect( xProbe, usTestFakePort(), "afr-api-metrics", NULL, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xTestControl( "fake-last-connect", cHex, sizeof( cHex ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK_MSG( strstr( cHex, cExpectedHex ) != NULL, "CONNECT %s", cHex );
    TEST_CHECK( MQTT_AGENT_Disconnect( xProbe, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xProbe ) == eMQTTAgentSuccess );
}

static void prvCreateLimit( void )
{
    MQTTAgentHandle_t xHandles[ mqttconfigMAX_BROKERS ];
    int n = 0;

    /* xClient holds one client already. */
    for( ; n < mqttconfigMAX_BROKERS; n++ )
    {
        if( MQTT_AGENT_Create( &xHandles[ n ] ) != eMQTTAgentSuccess )
        {
            break;
        }
    }

    TEST_CHECK( n == mqttconfigMAX_BROKERS - 1 );

    for( int i = 0; i < n; i++ )
    {
        TEST_CHECK( MQTT_AGENT_Delete( xHandles[ i ] ) == eMQTTAgentSuccess );
    }

    /* Deleted handles are stale: every function refuses them. */
    if( n > 0 )
    {
        MQTTAgentHandle_t xStale = xHandles[ 0 ];
        TEST_CHECK( MQTT_AGENT_Delete( xStale ) == eMQTTAgentFailure );
        TEST_CHECK( MQTT_AGENT_Disconnect( xStale, 10 ) == eMQTTAgentFailure );
        TEST_CHECK( xUtilPublish( xStale, "api/x", eMQTTQoS0, "x", 1, 10 ) == eMQTTAgentFailure );
        TEST_CHECK( xUtilConnect( xStale, usTestBrokerPort(), "stale", NULL, NULL, 100 ) == eMQTTAgentFailure );
    }
}

static void prvQoSRoundTrips( void )
{
    prvResetRecorder();
    TEST_ASSERT( xUtilSubscribe( xClient, "api/qos/2", eMQTTQoS2, prvCbA, NULL ) == eMQTTAgentSuccess );

    const MQTTQoS_t xLevels[] = { eMQTTQoS0, eMQTTQoS1, eMQTTQoS2 };

    for( int i = 0; i < 3; i++ )
    {
        char cMsg[ 16 ];
        snprintf( cMsg, sizeof( cMsg ), "qos%d", i );
        TEST_CHECK( xUtilPublish( xClient, "api/qos/2", xLevels[ i ], cMsg, ( uint32_t ) strlen( cMsg ), T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK( xUtilWaitFor( &xRec.iCount, i + 1, 3000 ) == pdTRUE );
        TEST_CHECK( strcmp( xRec.cLastPayload, cMsg ) == 0 );
        TEST_CHECK( xRec.xLastQoS == xLevels[ i ] );
    }

    /* Exactly once each: nothing more arrives. */
    vTaskDelay( 200 );
    TEST_CHECK( xRec.iCount == 3 );

    MQTTAgentUnsubscribeParams_t xUnsub = { ( const uint8_t * ) "api/qos/2", 9 };
    TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, &xUnsub, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "api/qos/2", eMQTTQoS1, "late", 4, T_TIMEOUT ) == eMQTTAgentSuccess );
    vTaskDelay( 200 );
    TEST_CHECK( xRec.iCount == 3 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvCallbackOrderAndOwnership( void )
{
    TEST_ASSERT( xUtilSubscribe( xClient, "order/#", eMQTTQoS1, prvCbC, NULL ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilSubscribe( xClient, "order/+", eMQTTQoS1, prvCbB, NULL ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilSubscribe( xClient, "order/a", eMQTTQoS1, prvCbA, NULL ) == eMQTTAgentSuccess );

    /* Nobody keeps it: exact match first, then wildcards in subscription order. */
    prvResetRecorder();
    TEST_CHECK( xUtilPublish( xClient, "order/a", eMQTTQoS1, "1", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 3, 3000 ) == pdTRUE );
    vTaskDelay( 50 );
    TEST_CHECK_MSG( strcmp( xRec.cOrder, "ACB" ) == 0, "order was '%s'", xRec.cOrder );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );

    /* The exact match keeps it: no other callback runs, the buffer stays out. */
    prvResetRecorder();
    cKeepLetter = 'A';
    TEST_CHECK( xUtilPublish( xClient, "order/a", eMQTTQoS1, "2", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 1, 3000 ) == pdTRUE );
    vTaskDelay( 50 );
    TEST_CHECK_MSG( strcmp( xRec.cOrder, "A" ) == 0, "order was '%s'", xRec.cOrder );
    TEST_CHECK( xRec.xKept != NULL );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS - 1 );
    TEST_CHECK( MQTT_AGENT_ReturnBuffer( xClient, xRec.xKept ) == eMQTTAgentSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
    /* Returning it twice, or a foreign pointer, is refused. */
    TEST_CHECK( MQTT_AGENT_ReturnBuffer( xClient, xRec.xKept ) == eMQTTAgentFailure );
    uint8_t ucForeign[ 8 ];
    TEST_CHECK( MQTT_AGENT_ReturnBuffer( xClient, ucForeign ) == eMQTTAgentFailure );
    TEST_CHECK( FreeRTOS_Agent_ReturnBuffer( xClient, NULL ) == eMQTTAgentFailure );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );

    /* A wildcard keeps it: the exact match ran first, later ones do not run. */
    prvResetRecorder();
    cKeepLetter = 'C';
    TEST_CHECK( xUtilPublish( xClient, "order/a", eMQTTQoS0, "3", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 2, 3000 ) == pdTRUE );
    vTaskDelay( 50 );
    TEST_CHECK_MSG( strcmp( xRec.cOrder, "AC" ) == 0, "order was '%s'", xRec.cOrder );
    TEST_CHECK( FreeRTOS_Agent_ReturnBuffer( xClient, xRec.xKept ) == eMQTTAgentSuccess );

    /* Only a wildcard matches. */
    prvResetRecorder();
    TEST_CHECK( xUtilPublish( xClient, "order/b/c", eMQTTQoS1, "4", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 1, 3000 ) == pdTRUE );
    vTaskDelay( 50 );
    TEST_CHECK_MSG( strcmp( xRec.cOrder, "C" ) == 0, "order was '%s'", xRec.cOrder );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvUnclaimedGoesToConnectCallback( void )
{
    /* A subscription without a callback: its publishes reach the connect callback. */
    TEST_ASSERT( xUtilSubscribe( xClient, "plain/topic", eMQTTQoS1, NULL, NULL ) == eMQTTAgentSuccess );
    prvResetRecorder();
    TEST_CHECK( xUtilPublish( xClient, "plain/topic", eMQTTQoS1, "unclaimed", 9, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 1, 3000 ) == pdTRUE );
    TEST_CHECK( strcmp( xRec.cOrder, "P" ) == 0 );
    TEST_CHECK( strcmp( xRec.cLastPayload, "unclaimed" ) == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );

    /* The connect callback takes ownership with pdTRUE. */
    prvResetRecorder();
    xConnectKeeps = pdTRUE;
    TEST_CHECK( xUtilPublish( xClient, "plain/topic", eMQTTQoS0, "kept", 4, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 1, 3000 ) == pdTRUE );
    xConnectKeeps = pdFALSE;
    TEST_CHECK( xRec.xKept != NULL );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS - 1 );
    TEST_CHECK( MQTT_AGENT_ReturnBuffer( xClient, xRec.xKept ) == eMQTTAgentSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvApiFromCallback( void )
{
    TEST_ASSERT( xUtilSubscribe( xClient, "nest/t", eMQTTQoS0, prvCbA, NULL ) == eMQTTAgentSuccess );
    prvResetRecorder();
    xNestCall = pdTRUE;
    xNestHandle = xClient;
    TEST_CHECK( xUtilPublish( xClient, "nest/t", eMQTTQoS0, "n", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 1, 3000 ) == pdTRUE );
    TEST_CHECK( xRec.xNested == eMQTTAgentAPICalledFromCallback );
    xNestCall = pdFALSE;
}

static void prvSubscriptionManagerLimits( void )
{
    char cFilter[ mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH + 2 ];

    /* A filter longer than mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH cannot
     * have a callback. */
    memset( cFilter, 'f', sizeof( cFilter ) - 1 );
    cFilter[ sizeof( cFilter ) - 1 ] = '\0';
    TEST_CHECK( xUtilSubscribe( xClient, cFilter, eMQTTQoS0, prvCbA, NULL ) == eMQTTAgentFailure );
    cFilter[ mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH ] = '\0';
    TEST_CHECK( xUtilSubscribe( xClient, cFilter, eMQTTQoS0, prvCbA, NULL ) == eMQTTAgentSuccess );

    /* At most mqttconfigSUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS callbacks: fill
     * the table, see the next one refused, free one, subscribe again. */
    int iAccepted = 0;

    for( int i = 0; i < mqttconfigSUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS + 1; i++ )
    {
        snprintf( cFilter, sizeof( cFilter ), "limit/%d", i );

        if( xUtilSubscribe( xClient, cFilter, eMQTTQoS0, prvCbB, NULL ) == eMQTTAgentSuccess )
        {
            iAccepted++;
        }
        else
        {
            break;
        }
    }

    TEST_CHECK( iAccepted < mqttconfigSUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS );
    snprintf( cFilter, sizeof( cFilter ), "limit/%d", 0 );
    MQTTAgentUnsubscribeParams_t xUnsub = { ( const uint8_t * ) cFilter, ( uint16_t ) strlen( cFilter ) };
    TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, &xUnsub, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilSubscribe( xClient, "limit/again", eMQTTQoS0, prvCbB, NULL ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilSubscribe( xClient, "limit/again2", eMQTTQoS0, prvCbB, NULL ) == eMQTTAgentFailure );

    /* Free every callback entry for the cases that follow. */
    for( int i = 1; i < iAccepted; i++ )
    {
        snprintf( cFilter, sizeof( cFilter ), "limit/%d", i );
        xUnsub.usTopicLength = ( uint16_t ) strlen( cFilter );
        TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, &xUnsub, T_TIMEOUT ) == eMQTTAgentSuccess );
    }

    const char * pcOthers[] = { "limit/again", "order/#", "order/+", "order/a", "nest/t" };

    for( size_t i = 0; i < sizeof( pcOthers ) / sizeof( pcOthers[ 0 ] ); i++ )
    {
        MQTTAgentUnsubscribeParams_t x = { ( const uint8_t * ) pcOthers[ i ], ( uint16_t ) strlen( pcOthers[ i ] ) };
        TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, &x, T_TIMEOUT ) == eMQTTAgentSuccess );
    }

    memset( cFilter, 'f', mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH );
    cFilter[ mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH ] = '\0';
    xUnsub.usTopicLength = ( uint16_t ) strlen( cFilter );
    TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, &xUnsub, T_TIMEOUT ) == eMQTTAgentSuccess );
}

static void prvWakeupLatency( void )
{
    /* The socket's wake-up callback wakes the agent within a tick of data
     * arriving: a QoS 0 publish comes back to its own subscription in a tick
     * or two (loopback round trip included). */
    TickType_t xLatencies[ 21 ];

    TEST_ASSERT( xUtilSubscribe( xClient, "wake/t", eMQTTQoS0, prvCbA, NULL ) == eMQTTAgentSuccess );

    for( int i = 0; i < 21; i++ )
    {
        prvResetRecorder();
        vTaskDelay( 3 );
        TickType_t xStart = xTaskGetTickCount();
        TEST_CHECK( xUtilPublish( xClient, "wake/t", eMQTTQoS0, "w", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK( xUtilWaitFor( &xRec.iCount, 1, 1000 ) == pdTRUE );
        xLatencies[ i ] = xTaskGetTickCount() - xStart;
    }

    /* Median, robust against a loaded machine. */
    for( int i = 0; i < 21; i++ )
    {
        for( int j = i + 1; j < 21; j++ )
        {
            if( xLatencies[ j ] < xLatencies[ i ] )
            {
                TickType_t t = xLatencies[ i ];
                xLatencies[ i ] = xLatencies[ j ];
                xLatencies[ j ] = t;
            }
        }
    }

    vTestNote( "publish-to-callback ticks: median %lu, max %lu", ( unsigned long ) xLatencies[ 10 ], ( unsigned long ) xLatencies[ 20 ] );
    TEST_CHECK( xLatencies[ 10 ] <= 2 );
    MQTTAgentUnsubscribeParams_t xUnsub = { ( const uint8_t * ) "wake/t", 6 };
    TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, &xUnsub, T_TIMEOUT ) == eMQTTAgentSuccess );
}

static void prvLargePayloads( void )
{
    /* 4 KB: larger than a pool buffer. Publishing works (heap-backed outgoing
     * buffer); receiving it cannot (no buffer that large): it is dropped and the
     * connection stays usable. */
    static char cBig[ 4096 ];
    memset( cBig, 'z', sizeof( cBig ) );
    TEST_ASSERT( xUtilSubscribe( xClient, "big/+", eMQTTQoS1, prvCbA, NULL ) == eMQTTAgentSuccess );
    prvResetRecorder();
    TEST_CHECK( xUtilPublish( xClient, "big/one", eMQTTQoS1, cBig, sizeof( cBig ), T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "big/two", eMQTTQoS1, "small", 5, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 1, 3000 ) == pdTRUE );
    vTaskDelay( 100 );
    TEST_CHECK( xRec.iCount == 1 );
    TEST_CHECK( strcmp( xRec.cLastPayload, "small" ) == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvNoFreeBuffer( void )
{
    uint8_t * pxHeld[ NUM_BUFFERS ];
    int n = 0;

    TEST_ASSERT( xUtilSubscribe( xClient, "nobuf/t", eMQTTQoS1, prvCbA, NULL ) == eMQTTAgentSuccess );

    /* The application holds every pool buffer; another device publishes. */
    for( ; n < NUM_BUFFERS; n++ )
    {
        uint32_t ulLength = 1;
        pxHeld[ n ] = BUFFERPOOL_GetFreeBuffer( &ulLength );
        TEST_ASSERT( pxHeld[ n ] != NULL );
    }

    prvResetRecorder();
    TEST_ASSERT( xTestControl( "publish 1 nobuf/t 10", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    vTaskDelay( 300 );
    TEST_CHECK( xRec.iCount == 0 ); /* Dropped: no buffer to put it in. */

    for( int i = 0; i < n; i++ )
    {
        BUFFERPOOL_ReturnBuffer( pxHeld[ i ] );
    }

    /* The connection stays usable and the dropped QoS 1 message was acknowledged
     * (otherwise the broker would hold back what follows). */
    TEST_ASSERT( xTestControl( "publish 1 nobuf/t 11", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 1, 3000 ) == pdTRUE );
    TEST_CHECK( strlen( xRec.cLastPayload ) == 11 );
    TEST_CHECK( xUtilPublish( xClient, "nobuf/t", eMQTTQoS1, "own", 3, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 2, 3000 ) == pdTRUE );
    MQTTAgentUnsubscribeParams_t xUnsub = { ( const uint8_t * ) "nobuf/t", 7 };
    TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, &xUnsub, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvNoHeapPerMessage( void )
{
    HeapStats_t xBefore, xAfter;

    TEST_ASSERT( xUtilSubscribe( xClient, "heap/t", eMQTTQoS1, prvCbA, NULL ) == eMQTTAgentSuccess );
    prvResetRecorder();
    TEST_CHECK( xUtilPublish( xClient, "heap/t", eMQTTQoS1, "warm", 4, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 1, 3000 ) == pdTRUE );

    /* 100 publishes at each QoS, each received back: no FreeRTOS heap allocation. */
    vPortGetHeapStats( &xBefore );

    for( int i = 0; i < 300; i++ )
    {
        TEST_CHECK( xUtilPublish( xClient, "heap/t", ( MQTTQoS_t ) ( i % 3 ), "payload", 7, T_TIMEOUT ) == eMQTTAgentSuccess );
    }

    TEST_CHECK( xUtilWaitFor( &xRec.iCount, 301, 5000 ) == pdTRUE );
    vPortGetHeapStats( &xAfter );
    TEST_CHECK_MSG( xAfter.xNumberOfSuccessfulAllocations == xBefore.xNumberOfSuccessfulAllocations,
                    "%lu allocations for 300 messages",
                    ( unsigned long ) ( xAfter.xNumberOfSuccessfulAllocations - xBefore.xNumberOfSuccessfulAllocations ) );
    MQTTAgentUnsubscribeParams_t xUnsub = { ( const uint8_t * ) "heap/t", 6 };
    TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, &xUnsub, T_TIMEOUT ) == eMQTTAgentSuccess );
}

static void prvNoLeakAcrossSessions( void )
{
    MQTTAgentHandle_t xTemp = NULL;
    size_t xFree[ 3 ];

    /* Connect, work, disconnect and delete three times: the heap comes back. */
    for( int round = 0; round < 3; round++ )
    {
        TEST_ASSERT( MQTT_AGENT_Create( &xTemp ) == eMQTTAgentSuccess );
        TEST_ASSERT( xUtilConnect( xTemp, usTestBrokerPort(), "afr-api-leak", NULL, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK( xUtilSubscribe( xTemp, "leak/t", eMQTTQoS1, prvCbA, NULL ) == eMQTTAgentSuccess );
        TEST_CHECK( xUtilPublish( xTemp, "leak/t", eMQTTQoS2, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK( MQTT_AGENT_Disconnect( xTemp, T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK( MQTT_AGENT_Delete( xTemp ) == eMQTTAgentSuccess );
        vTaskDelay( 20 );
        xFree[ round ] = xPortGetFreeHeapSize();
    }

    TEST_CHECK_MSG( xFree[ 1 ] == xFree[ 0 ] && xFree[ 2 ] == xFree[ 0 ], "free heap %lu, %lu, %lu",
                    ( unsigned long ) xFree[ 0 ], ( unsigned long ) xFree[ 1 ], ( unsigned long ) xFree[ 2 ] );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvTimeoutThenLateAnswer( void )
{
    MQTTAgentHandle_t xRelayed = NULL;

    TEST_ASSERT( MQTT_AGENT_Create( &xRelayed ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xRelayed, usTestRelayPort(), "afr-api-relay", NULL, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( xTestControl( "relay-freeze", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );

    TickType_t xStart = xTaskGetTickCount();
    TEST_CHECK( xUtilPublish( xRelayed, "api/late", eMQTTQoS1, "late", 4, 300 ) == eMQTTAgentTimeout );
    TickType_t xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xTook >= 300 && xTook < 400, "timed out after %lu ticks", ( unsigned long ) xTook );

    /* Every operation slot times out the same way, then the answers come late. */
    for( int i = 0; i < mqttconfigMAX_PARALLEL_OPS; i++ )
    {
        TEST_CHECK( xUtilPublish( xRelayed, "api/late", eMQTTQoS1, "late", 4, 20 ) == eMQTTAgentTimeout );
    }

    TEST_ASSERT( xTestControl( "relay-thaw", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    /* The late PUBACKs free their slots and reach nobody; new operations work. */
    TEST_CHECK( xUtilPublish( xRelayed, "api/late", eMQTTQoS1, "after", 5, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xRelayed, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xRelayed ) == eMQTTAgentSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvBadInput( void )
{
    MQTTAgentHandle_t xForeign = ( MQTTAgentHandle_t ) &xRec;
    uint8_t ucBadUtf8[] = { 'a', 0xC3, 0x28 };

    TEST_CHECK( MQTT_AGENT_Create( NULL ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Delete( NULL ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Delete( xForeign ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Disconnect( NULL, 10 ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Connect( xClient, NULL, 10 ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Subscribe( xClient, NULL, 10 ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, NULL, 10 ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Publish( xClient, NULL, 10 ) == eMQTTAgentFailure );
    TEST_CHECK( xUtilPublish( NULL, "a", eMQTTQoS0, "x", 1, 10 ) == eMQTTAgentFailure );
    TEST_CHECK( xUtilPublish( xForeign, "a", eMQTTQoS0, "x", 1, 10 ) == eMQTTAgentFailure );

    /* Topics: empty, wildcard in a publish topic, invalid UTF-8, NULL pointer. */
    TEST_CHECK( xUtilPublish( xClient, "", eMQTTQoS0, "x", 1, 10 ) == eMQTTAgentFailure );
    TEST_CHECK( xUtilPublish( xClient, "a/+", eMQTTQoS0, "x", 1, 10 ) == eMQTTAgentFailure );
    TEST_CHECK( xUtilPublish( xClient, "a/#", eMQTTQoS0, "x", 1, 10 ) == eMQTTAgentFailure );
    MQTTAgentPublishParams_t xPub = { ucBadUtf8, sizeof( ucBadUtf8 ), eMQTTQoS0, "x", 1 };
    TEST_CHECK( MQTT_AGENT_Publish( xClient, &xPub, 10 ) == eMQTTAgentFailure );
    xPub.pucTopic = NULL;
    xPub.usTopicLength = 3;
    TEST_CHECK( MQTT_AGENT_Publish( xClient, &xPub, 10 ) == eMQTTAgentFailure );
    xPub.pucTopic = ( const uint8_t * ) "ok";
    xPub.usTopicLength = 2;
    xPub.pvData = NULL; /* NULL data with a length */
    TEST_CHECK( MQTT_AGENT_Publish( xClient, &xPub, 10 ) == eMQTTAgentFailure );

    /* QoS above 2, stored through an integer as a C caller could. */
    xPub.pvData = "x";
    *( volatile uint8_t * ) &xPub.xQoS = 3;
    TEST_CHECK( MQTT_AGENT_Publish( xClient, &xPub, 10 ) == eMQTTAgentFailure );

    MQTTAgentSubscribeParams_t xSub = { ( const uint8_t * ) "a/b#", 4, eMQTTQoS0, NULL, NULL };
    TEST_CHECK( MQTT_AGENT_Subscribe( xClient, &xSub, 10 ) == eMQTTAgentFailure );
    xSub.pucTopic = ucBadUtf8;
    xSub.usTopicLength = sizeof( ucBadUtf8 );
    TEST_CHECK( MQTT_AGENT_Subscribe( xClient, &xSub, 10 ) == eMQTTAgentFailure );
    xSub.pucTopic = ( const uint8_t * ) "ok";
    xSub.usTopicLength = 0;
    TEST_CHECK( MQTT_AGENT_Subscribe( xClient, &xSub, 10 ) == eMQTTAgentFailure );
    xSub.usTopicLength = 2;
    *( volatile uint8_t * ) &xSub.xQoS = 7;
    TEST_CHECK( MQTT_AGENT_Subscribe( xClient, &xSub, 10 ) == eMQTTAgentFailure );

    MQTTAgentUnsubscribeParams_t xUnsub = { ( const uint8_t * ) "x", 0 };
    TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, &xUnsub, 10 ) == eMQTTAgentFailure );

    /* Connect: NULL URL, port 0, TLS requested from a plain listener (fails: never plain). */
    MQTTAgentConnectParams_t xConn = { 0 };
    xConn.pcURL = NULL;
    xConn.usPort = usTestBrokerPort();
    TEST_CHECK( MQTT_AGENT_Connect( xClient, &xConn, 10 ) == eMQTTAgentFailure );
    MQTTAgentHandle_t xFresh = NULL;
    TEST_ASSERT( MQTT_AGENT_Create( &xFresh ) == eMQTTAgentSuccess );
    xConn.pcURL = "127.0.0.1";
    xConn.xFlags = mqttagentURL_IS_IP_ADDRESS;
    xConn.usPort = 0;
    TEST_CHECK( MQTT_AGENT_Connect( xFresh, &xConn, 10 ) == eMQTTAgentFailure );
    xConn.usPort = usTestBrokerPort();
    xConn.xSecuredConnection = pdTRUE;
    TEST_CHECK( MQTT_AGENT_Connect( xFresh, &xConn, 100 ) == eMQTTAgentFailure );
    /* Client ids: U+0000 and invalid UTF-8 are refused (the broker listens: nothing is sent). */
    xConn.xSecuredConnection = pdFALSE;
    xConn.pucClientId = ( const uint8_t * ) "a\0b";
    xConn.usClientIdLength = 3;
    TEST_CHECK( MQTT_AGENT_Connect( xFresh, &xConn, T_TIMEOUT ) == eMQTTAgentFailure );
    xConn.pucClientId = ucBadUtf8;
    xConn.usClientIdLength = sizeof( ucBadUtf8 );
    TEST_CHECK( MQTT_AGENT_Connect( xFresh, &xConn, T_TIMEOUT ) == eMQTTAgentFailure );
    /* Nothing listens on port 1: connection refused, promptly. */
    TEST_CHECK( xUtilConnect( xFresh, 1, "nobody", NULL, NULL, T_TIMEOUT ) == eMQTTAgentFailure );
    /* Operations on a client that is not connected fail. */
    TEST_CHECK( xUtilPublish( xFresh, "a", eMQTTQoS1, "x", 1, 100 ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Disconnect( xFresh, 100 ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Delete( xFresh ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xFresh ) == eMQTTAgentFailure );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvDisconnectAndReconnect( void )
{
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( iDisconnects == 0 ); /* Asked for: not a lost connection. */
    TEST_CHECK( xUtilPublish( xClient, "api/x", eMQTTQoS0, "x", 1, 100 ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentFailure );
    /* The same handle connects again. */
    TEST_CHECK( xUtilConnect( xClient, usTestBrokerPort(), "afr-api-main", prvConnectCallback, &xRec, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "api/x", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xClient ) == eMQTTAgentSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvBody( void )
{
    vTestRun( "connect", prvConnectMain );
    vTestRun( "metrics_user_name", prvMetricsUserName );
    vTestRun( "create_limit_and_stale_handles", prvCreateLimit );
    vTestRun( "qos_0_1_2_round_trips", prvQoSRoundTrips );
    vTestRun( "callback_order_and_ownership", prvCallbackOrderAndOwnership );
    vTestRun( "unclaimed_publish_to_connect_callback", prvUnclaimedGoesToConnectCallback );
    vTestRun( "api_from_callback", prvApiFromCallback );
    vTestRun( "wakeup_latency", prvWakeupLatency );
    vTestRun( "subscription_manager_limits", prvSubscriptionManagerLimits );
    vTestRun( "large_payloads", prvLargePayloads );
    vTestRun( "no_free_buffer", prvNoFreeBuffer );
    vTestRun( "no_heap_allocation_per_message", prvNoHeapPerMessage );
    vTestRun( "no_leak_across_sessions", prvNoLeakAcrossSessions );
    vTestRun( "timeout_then_late_answer", prvTimeoutThenLateAnswer );
    vTestRun( "bad_input", prvBadInput );
    vTestRun( "disconnect_and_reconnect", prvDisconnectAndReconnect );
    vTestFinish();
}

int main( void )
{
    vUtilAgentTestMain( prvBody, 120000 );
}
