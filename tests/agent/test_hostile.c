/*
 * Robustness against a hostile broker and a careless application: floods,
 * QoS 2 bursts, malformed packets of every type, silence in the middle of a
 * packet, and shadow responses crafted to hurt (depth bombs, huge numbers,
 * escapes, wrong codes, tokens and topics, early and late answers).
 *
 * Every case asserts: no crash, the documented return code or event, every
 * pool buffer free at the end, and another client (on the real broker)
 * unaffected where one runs beside it. Run by run_with_broker.py --hostile
 * (tests/tools/hostile_broker.py), built with tests/config_hostile (keep-alive
 * 1000 ticks, pool of 8 buffers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "aws_mqtt_agent.h"
#include "aws_mqtt_agent_config.h"
#include "aws_mqtt_agent_tls.h"
#include "aws_shadow.h"

#include "agent_util.h"
#include "test_support.h"

#define NUM_BUFFERS    ( bufferpoolconfigNUM_BUFFERS )
#define THING          "hostile-thing"
#define QOS2_BURST     ( 40 )

typedef struct
{
    volatile int iPublishes;
    volatile int iDisconnects;
} Events_t;

typedef struct
{
    volatile int iDelivered;
    volatile int iSeen[ QOS2_BURST + 1 ];
    volatile int iOutOfRange;
} Deliveries_t;

static BaseType_t prvConnectCallback( void * pvUser,
                                      const MQTTAgentCallbackParams_t * pxParams )
{
    Events_t * pxEv = ( Events_t * ) pvUser;

    if( pxEv != NULL )
    {
        if( pxParams->xMQTTEvent == eMQTTAgentDisconnect )
        {
            pxEv->iDisconnects++;
        }
        else
        {
            pxEv->iPublishes++;
        }
    }

    return pdFALSE;
}

/* Counts deliveries; for "q2-N" payloads also which N. Never keeps the buffer. */
static MQTTBool_t prvCount( void * pvContext,
                            const MQTTPublishData_t * pxData )
{
    Deliveries_t * pxD = ( Deliveries_t * ) pvContext;
    char cText[ 16 ] = { 0 };
    size_t xLen = pxData->ulDataLength < sizeof( cText ) - 1 ? pxData->ulDataLength : sizeof( cText ) - 1;

    memcpy( cText, pxData->pvData, xLen );
    pxD->iDelivered++;

    if( strncmp( cText, "q2-", 3 ) == 0 )
    {
        int n = atoi( cText + 3 );

        if( ( n >= 1 ) && ( n <= QOS2_BURST ) )
        {
            pxD->iSeen[ n ]++;
        }
        else
        {
            pxD->iOutOfRange++;
        }
    }

    return eMQTTFalse;
}

static BaseType_t prvHostile( const char * pcScenario )
{
    char cCmd[ 512 ];

    snprintf( cCmd, sizeof( cCmd ), "hostile %s", pcScenario );
    return xTestControl( cCmd, NULL, 0, TEST_CONTROL_TIMEOUT );
}

/* A counter of hostile-stats ("pubcomps", ...); -1 if unreadable. */
static int prvStat( const char * pcName )
{
    char cResult[ 256 ];
    char cKey[ 32 ];

    if( xTestControl( "hostile-stats", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) != pdPASS )
    {
        return -1;
    }

    snprintf( cKey, sizeof( cKey ), "%s ", pcName );
    const char * p = strstr( cResult, cKey );
    return p != NULL ? atoi( p + strlen( cKey ) ) : -1;
}

/* Every pool buffer is back (give the agent task a moment to finish a packet). */
static void prvCheckPoolFull( void )
{
    int iFree = 0;

    for( int i = 0; i < 50; i++ )
    {
        iFree = iUtilPoolFree();

        if( iFree == NUM_BUFFERS )
        {
            break;
        }

        vTaskDelay( 10 );
    }

    TEST_CHECK_MSG( iFree == NUM_BUFFERS, "%d of %d pool buffers free", iFree, NUM_BUFFERS );
}

static uint16_t prvHostilePort( void )
{
    return usTestPortFromEnv( "AFR_TEST_HOSTILE_PORT" );
}

/* ------------------------------------------------------------ application */

/* Handles of the two kinds never stand for each other. Runs first: then the
 * first MQTT client and the first shadow client are both in slot 0 of their
 * tables at their first generation, where the old numbering made their
 * handles equal. */
static void prvHandleKinds( void )
{
    MQTTAgentHandle_t xMqtt = NULL;
    ShadowClientHandle_t xShadow = NULL;
    ShadowCreateParams_t xShared;

    TEST_ASSERT( MQTT_AGENT_Create( &xMqtt ) == eMQTTAgentSuccess );
    xShared.xMQTTClientType = eSharedMQTTClient;
    xShared.xMQTTClientHandle = xMqtt;
    TEST_ASSERT( SHADOW_ClientCreate( &xShadow, &xShared ) == eShadowSuccess );
    TEST_CHECK( ( void * ) xShadow != ( void * ) xMqtt );

    /* A shadow handle given to the agent, and the reverse: refused. */
    TEST_CHECK( xUtilPublish( ( MQTTAgentHandle_t ) xShadow, "k/x", eMQTTQoS0, "x", 1, 100 ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_Delete( ( MQTTAgentHandle_t ) xShadow ) == eMQTTAgentFailure );
    TEST_CHECK( SHADOW_ClientDisconnect( ( ShadowClientHandle_t ) xMqtt ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientDelete( ( ShadowClientHandle_t ) xMqtt ) == eShadowFailure );

    /* Both still exist: each deletes once, with its own API. */
    TEST_CHECK( SHADOW_ClientDelete( xShadow ) == eShadowSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xMqtt ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xMqtt ) == eMQTTAgentFailure );
    prvCheckPoolFull();
}

/* After SHADOW_ClientDelete on a shared client, the application's own connect
 * callback receives the agent's events again. */
static void prvSharedDeleteRestoresCallback( void )
{
    static Events_t xApp;
    MQTTAgentHandle_t xS = NULL;
    ShadowClientHandle_t xShadow = NULL;
    ShadowCreateParams_t xShared;
    MQTTAgentConnectParams_t xConn =
    {
        .pcURL            = "127.0.0.1",
        .xFlags           = mqttagentURL_IS_IP_ADDRESS,
        .usPort           = usTestBrokerPort(),
        .pucClientId      = ( const uint8_t * ) "hostile-app-s",
        .usClientIdLength = 13,
        .pvUserData       = &xApp,
        .pxCallback       = prvConnectCallback,
    };

    memset( ( void * ) &xApp, 0, sizeof( xApp ) );
    TEST_ASSERT( MQTT_AGENT_Create( &xS ) == eMQTTAgentSuccess );
    xShared.xMQTTClientType = eSharedMQTTClient;
    xShared.xMQTTClientHandle = xS;
    TEST_ASSERT( SHADOW_ClientCreate( &xShadow, &xShared ) == eShadowSuccess );
    TEST_ASSERT( SHADOW_ClientConnect( xShadow, &xConn, T_TIMEOUT ) == eShadowSuccess );
    /* No subscription callback: publishes go to the connect callback. */
    TEST_ASSERT( xUtilSubscribe( xS, "app/d6/#", eMQTTQoS1, NULL, NULL ) == eMQTTAgentSuccess );
    TEST_ASSERT( xTestControl( "publish 1 app/d6/a 3", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &xApp.iPublishes, 1, 2000 ) == pdTRUE );

    TEST_CHECK( SHADOW_ClientDelete( xShadow ) == eShadowSuccess );
    TEST_ASSERT( xTestControl( "publish 1 app/d6/b 3", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK_MSG( xUtilWaitFor( &xApp.iPublishes, 2, 2000 ) == pdTRUE,
                    "after the shadow client's delete the application's callback got %d publishes", xApp.iPublishes );

    /* A new shadow client in the same slot does not get S's events. */
    ShadowClientHandle_t xOther = NULL;
    ShadowCreateParams_t xDedicated = { eDedicatedMQTTClient, NULL };
    TEST_ASSERT( SHADOW_ClientCreate( &xOther, &xDedicated ) == eShadowSuccess );
    TEST_CHECK( xOther != xShadow );
    TEST_ASSERT( xTestControl( "publish 1 app/d6/c 3", NULL, 0, TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &xApp.iPublishes, 3, 2000 ) == pdTRUE );
    TEST_CHECK( SHADOW_ClientDelete( xOther ) == eShadowSuccess );

    TEST_CHECK( MQTT_AGENT_Disconnect( xS, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xS ) == eMQTTAgentSuccess );
    TEST_CHECK( xApp.iDisconnects == 0 );
    prvCheckPoolFull();
}

/* A CONNACK three times slower than mqttconfigKEEP_ALIVE_TIMEOUT_TICKS (a slow
 * TLS handshake, a cellular round trip): the connect call's own timeout bounds
 * the wait, as in AFR. */
static void prvSlowConnack( void )
{
    static Events_t xEv;
    MQTTAgentHandle_t xH = NULL;

    memset( ( void * ) &xEv, 0, sizeof( xEv ) );
    TEST_ASSERT( mqttconfigKEEP_ALIVE_TIMEOUT_TICKS <= 1000 );
    TEST_ASSERT( prvHostile( "slow-connack 30" ) == pdPASS );
    TEST_ASSERT( MQTT_AGENT_Create( &xH ) == eMQTTAgentSuccess );

    /* The caller allows 5 s: connected. */
    TickType_t xStart = xTaskGetTickCount();
    MQTTAgentReturnCode_t xRc = xUtilConnect( xH, prvHostilePort(), "hostile-slow", prvConnectCallback, &xEv, 5000 );
    TickType_t xTook = xTaskGetTickCount() - xStart;
    vTestNote( "CONNACK after 3 s: %d after %lu ticks", ( int ) xRc, ( unsigned long ) xTook );
    TEST_CHECK( xRc == eMQTTAgentSuccess );
    TEST_CHECK( xTook > mqttconfigKEEP_ALIVE_TIMEOUT_TICKS + 500 );
    TEST_CHECK( xUtilPublish( xH, "hostile/slow", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xH, T_TIMEOUT ) == eMQTTAgentSuccess );

    /* The caller allows 1.5 s: its timeout, then, not a failure at 1 s. */
    xStart = xTaskGetTickCount();
    xRc = xUtilConnect( xH, prvHostilePort(), "hostile-slow", prvConnectCallback, &xEv, 1500 );
    xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xRc == eMQTTAgentTimeout, "returned %d after %lu ticks", ( int ) xRc, ( unsigned long ) xTook );
    TEST_CHECK( xTook >= 1500 && xTook < 1700 );
    vTaskDelay( 3000 ); /* The agent dropped that connection at the timeout: no event, nothing left. */
    TEST_CHECK( xEv.iDisconnects == 0 );
    TEST_CHECK( MQTT_AGENT_Delete( xH ) == eMQTTAgentSuccess );
    prvCheckPoolFull();
}

/* This library is built without its own TLS and the config names no
 * mqttconfigTLS_BACKEND: TLS is the Secure Sockets port's, as in AFR. This
 * simulator port without TLS refuses SOCKETS_SO_REQUIRE_TLS: the connect fails
 * with a clear reason and never goes out as plain TCP. */
static void prvPortWithoutTls( void )
{
    MQTTAgentHandle_t xH = NULL;
    MQTTAgentTLSError_t xWhy = eMQTTAgentTLSNoError;
    MQTTAgentConnectParams_t xParams =
    {
        .pcURL            = "127.0.0.1",
        .xFlags           = mqttagentREQUIRE_TLS | mqttagentURL_IS_IP_ADDRESS,
        .usPort           = prvHostilePort(),
        .pucClientId      = ( const uint8_t * ) "hostile-tls",
        .usClientIdLength = 11,
    };

    TEST_ASSERT( prvHostile( "normal" ) == pdPASS );
    int iBefore = prvStat( "connections" );
    TEST_ASSERT( MQTT_AGENT_Create( &xH ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Connect( xH, &xParams, T_TIMEOUT ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_GetTLSError( xH, &xWhy ) == eMQTTAgentSuccess );
    TEST_CHECK_MSG( xWhy == eMQTTAgentTLSPortRefusedOption, "TLS error %d", ( int ) xWhy );
    xParams.xFlags = mqttagentUSE_AWS_IOT_ALPN_443;
    TEST_CHECK( MQTT_AGENT_Connect( xH, &xParams, T_TIMEOUT ) == eMQTTAgentFailure );
    TEST_CHECK( prvStat( "connections" ) == iBefore );
    TEST_CHECK( MQTT_AGENT_Delete( xH ) == eMQTTAgentSuccess );
    prvCheckPoolFull();
}

/* ------------------------------------------------------------------ floods */

/* While the hostile broker floods client H, client B (on the real broker)
 * keeps working: each pass of the agent task serves every client. */
static void prvFloodBesideAnotherClient( const char * pcScenario,
                                         const char * pcSubscribe )
{
    static Events_t xEvH, xEvB;
    static Deliveries_t xOnH, xOnB;
    MQTTAgentHandle_t xH = NULL, xB = NULL;
    TickType_t xWorst = 0;

    memset( ( void * ) &xEvH, 0, sizeof( xEvH ) );
    memset( ( void * ) &xEvB, 0, sizeof( xEvB ) );
    memset( ( void * ) &xOnH, 0, sizeof( xOnH ) );
    memset( ( void * ) &xOnB, 0, sizeof( xOnB ) );
    TEST_ASSERT( MQTT_AGENT_Create( &xH ) == eMQTTAgentSuccess );
    TEST_ASSERT( MQTT_AGENT_Create( &xB ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xB, usTestBrokerPort(), "hostile-b", prvConnectCallback, &xEvB, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilSubscribe( xB, "hostile/b/#", eMQTTQoS1, prvCount, ( void * ) &xOnB ) == eMQTTAgentSuccess );

    TEST_ASSERT( prvHostile( pcScenario ) == pdPASS );
    TEST_ASSERT( xUtilConnect( xH, prvHostilePort(), "hostile-h", prvConnectCallback, &xEvH, T_TIMEOUT ) == eMQTTAgentSuccess );

    if( pcSubscribe != NULL )
    {
        /* The flood starts with this SUBACK. */
        TEST_CHECK( xUtilSubscribe( xH, pcSubscribe, eMQTTQoS1, prvCount, ( void * ) &xOnH ) == eMQTTAgentSuccess );
    }

    for( int i = 0; i < 30; i++ )
    {
        TickType_t xStart = xTaskGetTickCount();
        TEST_CHECK( xUtilPublish( xB, "hostile/b/x", eMQTTQoS1, "b", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
        TickType_t xTook = xTaskGetTickCount() - xStart;
        xWorst = xTook > xWorst ? xTook : xWorst;
        vTaskDelay( 20 );
    }

    vTestNote( "%s: B's slowest QoS 1 publish took %lu ticks; flood packets sent %d",
               pcScenario, ( unsigned long ) xWorst, prvStat( "floods" ) );
    TEST_CHECK_MSG( xWorst < 500, "B's publish took %lu ticks during the flood", ( unsigned long ) xWorst );
    TEST_CHECK( xUtilWaitFor( &xOnB.iDelivered, 30, 2000 ) == pdTRUE );

    /* The flood ends (3 s); H is still connected and answers. */
    vTaskDelay( 4000 );
    TEST_CHECK( xUtilPublish( xH, "hostile/h", eMQTTQoS1, "h", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xEvH.iDisconnects == 0 );
    TEST_CHECK( xEvB.iDisconnects == 0 );

    if( pcSubscribe != NULL )
    {
        vTestNote( "H received %d flooded publishes", xOnH.iDelivered );
        TEST_CHECK( xOnH.iDelivered > 0 );
    }

    TEST_CHECK( MQTT_AGENT_Disconnect( xH, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xB, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xH ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xB ) == eMQTTAgentSuccess );
    prvCheckPoolFull();
}

static void prvPingrespFlood( void )
{
    prvFloodBesideAnotherClient( "pingresp-flood 3", NULL );
}

static void prvPublishFlood( void )
{
    prvFloodBesideAnotherClient( "publish-flood 3 1", "hostile/#" );
}

/* 40 QoS 2 messages in flight at once (more than any table), 6 of them
 * re-delivered with DUP before their PUBREL: each delivered exactly once, the
 * connection stays up, every exchange completes. */
static void prvQos2Burst( void )
{
    static Events_t xEv;
    static Deliveries_t xOn;
    MQTTAgentHandle_t xH = NULL;
    char cScenario[ 64 ];

    memset( ( void * ) &xEv, 0, sizeof( xEv ) );
    memset( ( void * ) &xOn, 0, sizeof( xOn ) );
    snprintf( cScenario, sizeof( cScenario ), "qos2-burst %d 6", QOS2_BURST );
    TEST_ASSERT( prvHostile( cScenario ) == pdPASS );
    TEST_ASSERT( MQTT_AGENT_Create( &xH ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xH, prvHostilePort(), "hostile-q2", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilSubscribe( xH, "hostile/q2", eMQTTQoS2, prvCount, ( void * ) &xOn ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xOn.iDelivered, QOS2_BURST, 5000 ) == pdTRUE );

    int iPubcomps = -1;

    for( int i = 0; i < 100 && iPubcomps < QOS2_BURST; i++ )
    {
        vTaskDelay( 30 );
        iPubcomps = prvStat( "pubcomps" );
    }

    vTaskDelay( 200 ); /* Nothing more may arrive. */
    vTestNote( "delivered %d, PUBCOMPs %d, disconnects %d", xOn.iDelivered, iPubcomps, xEv.iDisconnects );
    TEST_CHECK( xOn.iDelivered == QOS2_BURST );
    TEST_CHECK( xOn.iOutOfRange == 0 );

    for( int n = 1; n <= QOS2_BURST; n++ )
    {
        TEST_CHECK_MSG( xOn.iSeen[ n ] == 1, "q2-%d delivered %d times", n, xOn.iSeen[ n ] );
    }

    TEST_CHECK( iPubcomps == QOS2_BURST );
    TEST_CHECK( xEv.iDisconnects == 0 );
    TEST_CHECK( xUtilPublish( xH, "hostile/after", eMQTTQoS2, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xH, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xH ) == eMQTTAgentSuccess );
    prvCheckPoolFull();
}

/* ---------------------------------------------------------------- malformed */

typedef struct
{
    const char * pcWhat;
    const char * pcHex;
} Raw_t;

/* Right after CONNACK: one packet the protocol forbids. The agent drops the
 * connection, reports eMQTTAgentDisconnect once and keeps no buffer. */
static void prvMalformedPackets( void )
{
    static const Raw_t xCases[] =
    {
        { "a second CONNACK",                   "20020000" },
        { "PUBLISH with QoS 3",                 "3606000161000178" },
        { "PUBLISH topic longer than its packet", "3003000961" },
        { "PUBLISH to a wildcard topic",        "30050003612f23" },
        { "PUBLISH with a non-UTF-8 topic",     "30050002fffe78" },
        { "QoS 1 PUBLISH with packet id 0",     "32050001610000" },
        { "PUBACK of 3 bytes",                  "4003000100" },
        { "PUBREC of 1 byte",                   "500100" },
        { "PUBREL with wrong flags",            "60020001" },
        { "PUBCOMP of 4 bytes",                 "700400010000" },
        { "SUBACK with return code 3",          "9003000103" },
        { "SUBACK of 9 bytes",                  "9009000101010101010101" },
        { "UNSUBACK of 0 bytes",                "b000" },
        { "PINGRESP of 1 byte",                 "d00100" },
        { "packet type 0",                      "0000" },
        { "packet type 15",                     "f000" },
        { "CONNECT from the server",            "100c00044d5154540402003c0000" },
        { "SUBSCRIBE from the server",          "8206000100016100" },
        { "UNSUBSCRIBE from the server",        "a2050001000161" },
        { "PINGREQ from the server",            "c000" },
        { "DISCONNECT from the server",         "e000" },
        { "remaining length of five bytes",     "30ffffffff01" },
    };
    static Events_t xEv;
    MQTTAgentHandle_t xH = NULL;
    char cScenario[ 128 ];

    TEST_ASSERT( MQTT_AGENT_Create( &xH ) == eMQTTAgentSuccess );

    for( size_t i = 0; i < sizeof( xCases ) / sizeof( xCases[ 0 ] ); i++ )
    {
        memset( ( void * ) &xEv, 0, sizeof( xEv ) );
        snprintf( cScenario, sizeof( cScenario ), "raw %s", xCases[ i ].pcHex );
        TEST_ASSERT( prvHostile( cScenario ) == pdPASS );
        MQTTAgentReturnCode_t xRc = xUtilConnect( xH, prvHostilePort(), "hostile-raw", prvConnectCallback, &xEv, T_TIMEOUT );
        TEST_CHECK_MSG( xRc == eMQTTAgentSuccess, "%s: connect returned %d", xCases[ i ].pcWhat, ( int ) xRc );
        TEST_CHECK_MSG( xUtilWaitFor( &xEv.iDisconnects, 1, 2000 ) == pdTRUE, "%s: no disconnect event", xCases[ i ].pcWhat );
        vTaskDelay( 50 );
        TEST_CHECK_MSG( xEv.iDisconnects == 1, "%s: %d disconnect events", xCases[ i ].pcWhat, xEv.iDisconnects );
        TEST_CHECK_MSG( xEv.iPublishes == 0, "%s: %d publishes delivered", xCases[ i ].pcWhat, xEv.iPublishes );
        TEST_CHECK_MSG( xUtilPublish( xH, "hostile/x", eMQTTQoS0, "x", 1, 100 ) == eMQTTAgentFailure,
                        "%s: still connected", xCases[ i ].pcWhat );
        prvCheckPoolFull();
    }

    /* The same client then works with a sane broker. */
    TEST_CHECK( xUtilConnect( xH, usTestBrokerPort(), "hostile-raw", prvConnectCallback, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xH, "hostile/x", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xH ) == eMQTTAgentSuccess );
    prvCheckPoolFull();
}

/* Part of a packet, then silence: the keep-alive (1000 + 1000 ticks here)
 * ends the connection; a half-received publish's buffer comes back. */
static void prvSilenceMidPacket( void )
{
    static const Raw_t xCases[] =
    {
        { "half a PUBLISH (in a pool buffer)",          "300c000568656c6c6f" },
        { "half a fixed header",                        "30ff" },
        { "a PUBLISH of the maximum remaining length",  "30ffffff7f000161" },
    };
    static Events_t xEv;
    MQTTAgentHandle_t xH = NULL;
    char cScenario[ 128 ];

    TEST_ASSERT( MQTT_AGENT_Create( &xH ) == eMQTTAgentSuccess );

    for( size_t i = 0; i < sizeof( xCases ) / sizeof( xCases[ 0 ] ); i++ )
    {
        memset( ( void * ) &xEv, 0, sizeof( xEv ) );
        snprintf( cScenario, sizeof( cScenario ), "raw-then-silence %s", xCases[ i ].pcHex );
        TEST_ASSERT( prvHostile( cScenario ) == pdPASS );
        TickType_t xStart = xTaskGetTickCount();
        TEST_CHECK( xUtilConnect( xH, prvHostilePort(), "hostile-silent", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK_MSG( xUtilWaitFor( &xEv.iDisconnects, 1, 5000 ) == pdTRUE, "%s: no disconnect event", xCases[ i ].pcWhat );
        vTestNote( "%s: disconnected after %lu ticks", xCases[ i ].pcWhat, ( unsigned long ) ( xTaskGetTickCount() - xStart ) );
        TEST_CHECK( xEv.iPublishes == 0 );
        prvCheckPoolFull();
    }

    TEST_CHECK( MQTT_AGENT_Delete( xH ) == eMQTTAgentSuccess );
}

/* ------------------------------------------------------------------ shadow */

static Events_t xShadowEv;

/* A dedicated shadow client connected to the hostile server in shadow MODE. */
static ShadowClientHandle_t prvShadowClient( const char * pcMode )
{
    ShadowClientHandle_t xShadow = NULL;
    ShadowCreateParams_t xDedicated = { eDedicatedMQTTClient, NULL };
    char cScenario[ 64 ];
    MQTTAgentConnectParams_t xConn =
    {
        .pcURL            = "127.0.0.1",
        .xFlags           = mqttagentURL_IS_IP_ADDRESS,
        .usPort           = prvHostilePort(),
        .pucClientId      = ( const uint8_t * ) "hostile-shadow",
        .usClientIdLength = 14,
        .pvUserData       = &xShadowEv,
        .pxCallback       = prvConnectCallback,
    };

    memset( ( void * ) &xShadowEv, 0, sizeof( xShadowEv ) );
    snprintf( cScenario, sizeof( cScenario ), "shadow %s", pcMode );

    if( ( prvHostile( cScenario ) != pdPASS ) ||
        ( SHADOW_ClientCreate( &xShadow, &xDedicated ) != eShadowSuccess ) )
    {
        return NULL;
    }

    if( SHADOW_ClientConnect( xShadow, &xConn, T_TIMEOUT ) != eShadowSuccess )
    {
        ( void ) SHADOW_ClientDelete( xShadow );
        return NULL;
    }

    return xShadow;
}

static void prvShadowDone( ShadowClientHandle_t xShadow )
{
    TEST_CHECK( SHADOW_ClientDisconnect( xShadow ) == eShadowSuccess );
    TEST_CHECK( SHADOW_ClientDelete( xShadow ) == eShadowSuccess );
    TEST_CHECK( xShadowEv.iDisconnects == 0 );
    prvCheckPoolFull();
}

/* SHADOW_Get with output fields preset to garbage, so that a failure that
 * leaves them as they were shows. */
static ShadowReturnCode_t prvGet( ShadowClientHandle_t xShadow,
                                  TickType_t xTimeout,
                                  ShadowOperationParams_t * pxOp )
{
    memset( pxOp, 0, sizeof( *pxOp ) );
    pxOp->pcThingName = THING;
    pxOp->xQoS = eMQTTQoS1;
    pxOp->ucKeepSubscriptions = 1;
    pxOp->pcData = "stale";
    pxOp->ulDataLength = 5;
    pxOp->xBuffer = ( MQTTBufferHandle_t ) 0x1;
    return SHADOW_Get( xShadow, pxOp, xTimeout );
}

static int prvGetCleared( const ShadowOperationParams_t * pxOp )
{
    return pxOp->pcData == NULL && pxOp->ulDataLength == 0 && pxOp->xBuffer == NULL;
}

/* A Get that must succeed: the document is handed over, and goes back. */
static void prvGetSucceeds( const char * pcMode )
{
    ShadowOperationParams_t xOp;
    ShadowClientHandle_t xShadow = prvShadowClient( pcMode );

    TEST_ASSERT( xShadow != NULL );
    ShadowReturnCode_t r = prvGet( xShadow, T_TIMEOUT, &xOp );
    TEST_CHECK_MSG( r == eShadowSuccess, "%s: Get returned %d", pcMode, ( int ) r );

    if( r == eShadowSuccess )
    {
        TEST_CHECK( xOp.pcData != NULL && xOp.ulDataLength > 0 && xOp.xBuffer != NULL );
        TEST_CHECK( SHADOW_ReturnMQTTBuffer( xShadow, xOp.xBuffer ) == eShadowSuccess );
    }

    prvShadowDone( xShadow );
}

static void prvShadowResponseBeforePuback( void )
{
    prvGetSucceeds( "before-puback" );
}

/* A depth bomb, a 5000-digit code and 2000 escapes with the request's token:
 * read with bounded stack, never taken for the answer (the first two), and
 * the real answer still completes the call. */
static void prvShadowDepthBomb( void )
{
    prvGetSucceeds( "depth-bomb 4000" );
}

static void prvShadowHugeNumber( void )
{
    prvGetSucceeds( "huge-number" );
}

static void prvShadowEscapedToken( void )
{
    prvGetSucceeds( "escaped-token" );
}

/* The document arrives but the request's PUBACK never does: the Get times
 * out, and the buffer that held the document comes back (three times). */
static void prvShadowLatePuback( void )
{
    ShadowOperationParams_t xOp;
    ShadowClientHandle_t xShadow = prvShadowClient( "late-puback" );

    TEST_ASSERT( xShadow != NULL );

    for( int i = 0; i < 3; i++ )
    {
        ShadowReturnCode_t r = prvGet( xShadow, 800, &xOp );
        TEST_CHECK_MSG( r == eShadowTimeout, "Get without PUBACK returned %d", ( int ) r );
        TEST_CHECK( prvGetCleared( &xOp ) );
        prvCheckPoolFull();
    }

    prvShadowDone( xShadow );
}

/* A rejection's code is the return code only when it is a service code. */
static void prvShadowRejectionCodes( void )
{
    static const struct
    {
        const char * pcCode;
        ShadowReturnCode_t xExpected;
    } xCases[] =
    {
        { "0",     eShadowFailure             },
        { "1",     eShadowFailure             },
        { "2",     eShadowFailure             },
        { "3",     eShadowFailure             },
        { "200",   eShadowFailure             },
        { "399",   eShadowFailure             },
        { "600",   eShadowFailure             },
        { "-404",  eShadowFailure             },
        { "404",   eShadowRejectedNotFound    },
        { "409",   eShadowRejectedConflict    },
        { "500",   eShadowRejectedInternalServerError },
    };
    char cMode[ 32 ];
    ShadowOperationParams_t xOp;

    for( size_t i = 0; i < sizeof( xCases ) / sizeof( xCases[ 0 ] ); i++ )
    {
        snprintf( cMode, sizeof( cMode ), "code %s", xCases[ i ].pcCode );
        ShadowClientHandle_t xShadow = prvShadowClient( cMode );
        TEST_ASSERT( xShadow != NULL );
        ShadowReturnCode_t r = prvGet( xShadow, T_TIMEOUT, &xOp );
        TEST_CHECK_MSG( r == xCases[ i ].xExpected, "code %s: Get returned %d", xCases[ i ].pcCode, ( int ) r );
        TEST_CHECK_MSG( prvGetCleared( &xOp ), "code %s: output left as it was", xCases[ i ].pcCode );
        prvShadowDone( xShadow );
    }
}

/* Answers that are not this operation's: they complete nothing (timeout), and
 * their buffers come back. */
static void prvShadowNotOurs( void )
{
    static const char * const pcModes[] = { "tokenless", "wrong-token", "other-thing" };
    ShadowOperationParams_t xOp;

    for( size_t i = 0; i < sizeof( pcModes ) / sizeof( pcModes[ 0 ] ); i++ )
    {
        ShadowClientHandle_t xShadow = prvShadowClient( pcModes[ i ] );
        TEST_ASSERT( xShadow != NULL );
        ShadowReturnCode_t r = prvGet( xShadow, 600, &xOp );
        TEST_CHECK_MSG( r == eShadowTimeout, "%s: Get returned %d", pcModes[ i ], ( int ) r );
        TEST_CHECK( prvGetCleared( &xOp ) );
        prvShadowDone( xShadow );
    }
}

/* The answer comes after the Get timed out: it reaches nobody, and its
 * buffer comes back. */
static void prvShadowLateResponse( void )
{
    ShadowOperationParams_t xOp;
    ShadowClientHandle_t xShadow = prvShadowClient( "late-response 1500" );

    TEST_ASSERT( xShadow != NULL );
    TEST_CHECK( prvGet( xShadow, 500, &xOp ) == eShadowTimeout );
    TEST_CHECK( prvGetCleared( &xOp ) );
    vTaskDelay( 2500 );
    prvCheckPoolFull();
    prvShadowDone( xShadow );
}

static void prvBody( void )
{
    vTestRun( "handles_of_different_kinds", prvHandleKinds );
    vTestRun( "shared_shadow_delete_restores_app_callback", prvSharedDeleteRestoresCallback );
    vTestRun( "slow_connack", prvSlowConnack );
    vTestRun( "tls_by_a_port_without_tls", prvPortWithoutTls );
    vTestRun( "pingresp_flood_beside_another_client", prvPingrespFlood );
    vTestRun( "publish_flood_beside_another_client", prvPublishFlood );
    vTestRun( "qos2_burst_beyond_any_table", prvQos2Burst );
    vTestRun( "malformed_packets", prvMalformedPackets );
    vTestRun( "silence_mid_packet", prvSilenceMidPacket );
    vTestRun( "shadow_response_before_puback", prvShadowResponseBeforePuback );
    vTestRun( "shadow_depth_bomb", prvShadowDepthBomb );
    vTestRun( "shadow_huge_number", prvShadowHugeNumber );
    vTestRun( "shadow_escaped_token", prvShadowEscapedToken );
    vTestRun( "shadow_late_puback", prvShadowLatePuback );
    vTestRun( "shadow_rejection_codes", prvShadowRejectionCodes );
    vTestRun( "shadow_answers_not_ours", prvShadowNotOurs );
    vTestRun( "shadow_late_response", prvShadowLateResponse );
}

int main( void )
{
    vUtilAgentTestMain( prvBody, 400000 );
}
