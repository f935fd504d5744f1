/*
 * The Device Shadow client's C API (aws_shadow.h) against a real Mosquitto on
 * loopback and tests/tools/shadow_service.py (a test implementation of the AWS
 * IoT Device Shadow service), under the FreeRTOS POSIX simulator: every
 * function and return code, dedicated and shared MQTT clients, the service's
 * rejections (400, 404, 409, 413), large documents, timeouts through a frozen
 * relay, kept response subscriptions, callbacks and their buffer ownership, two
 * devices on one broker, a lost connection and reconnect, disconnect and
 * delete, and bad input from C.
 *
 * Run by tests/tools/run_with_broker.py --relay --shadow. Clients:
 *   A  dedicated MQTT client, straight to the broker   (xRecA)
 *   B  shared: on the application's agent client S, through the relay (xRecB)
 *   C  dedicated, through the relay (from the two_devices case on) (xRecC)
 * Each recorder is the pvUserData of its client's connect parameters, so it is
 * what both the application's connect callback and the shadow callbacks get.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "aws_mqtt_agent.h"
#include "aws_mqtt_agent_config.h"
#include "aws_mqtt_config.h"
#include "aws_shadow.h"
#include "aws_shadow_config.h"

#include "agent_util.h"
#include "test_support.h"

#define NUM_BUFFERS     ( bufferpoolconfigNUM_BUFFERS )
#define MAX_SUBS        ( mqttconfigSUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS )
#define CB_WAIT         ( ( TickType_t ) 3000 ) /* Bound on an expected callback. */
#define QUIET_WAIT      ( ( TickType_t ) 400 )  /* How long "nothing more arrives" is watched. */
#define REC_MAGIC       ( 0x5AD0C0DEUL )

/*----------------------------------- recorders -------------------------------------*/

typedef struct
{
    uint32_t ulMagic;
    ShadowClientHandle_t xHandle;
    volatile int iDelta;
    volatile int iUpdated;
    volatile int iDeleted;
    volatile int iAppPublish;
    volatile int iAppDisconnect;
    char cDeltaThing[ 136 ];
    char cUpdatedThing[ 136 ];
    char cDeletedThing[ 136 ];
    char cDelta[ 512 ];
    char cUpdated[ 2048 ];
    uint32_t ulUpdatedLength;
    /* Set by the test: the next delta/updated callback keeps its buffer. */
    volatile BaseType_t xKeepDelta;
    volatile BaseType_t xKeepUpdated;
    MQTTBufferHandle_t volatile xKept;
    /* Set by the test: the next delta callback calls the API (it must fail). */
    volatile BaseType_t xNest;
    volatile int iNested;
    volatile ShadowReturnCode_t xNestedGet, xNestedUpdate, xNestedRegister, xNestedDisconnect, xNestedCreate;
    ShadowClientHandle_t volatile xNestedCreated;
} Rec_t;

static Rec_t xRecA, xRecB, xRecC;
static volatile int iBadUserData = 0; /* Callbacks called with another pvUserData. */

static void prvRecReset( Rec_t * pxRec )
{
    ShadowClientHandle_t xHandle = pxRec->xHandle;

    memset( pxRec, 0, sizeof( *pxRec ) );
    pxRec->ulMagic = REC_MAGIC;
    pxRec->xHandle = xHandle;
}

static Rec_t * prvRec( void * pvUserData )
{
    Rec_t * pxRec = ( Rec_t * ) pvUserData;

    if( ( pxRec != &xRecA ) && ( pxRec != &xRecB ) && ( pxRec != &xRecC ) )
    {
        iBadUserData++;
        return NULL;
    }

    if( pxRec->ulMagic != REC_MAGIC )
    {
        iBadUserData++;
        return NULL;
    }

    return pxRec;
}

static void prvCopy( char * pcOut, size_t xSize, const char * pcIn, uint32_t ulLength )
{
    size_t n = ( ulLength < xSize - 1 ) ? ulLength : xSize - 1;

    memcpy( pcOut, pcIn, n );
    pcOut[ n ] = '\0';
}

/* pcNeedle inside pcDoc[0..ulLength). */
static BaseType_t prvContains( const char * pcDoc, uint32_t ulLength, const char * pcNeedle )
{
    size_t n = strlen( pcNeedle );

    if( ( pcDoc == NULL ) || ( n > ulLength ) )
    {
        return pdFALSE;
    }

    for( uint32_t i = 0; i + n <= ulLength; i++ )
    {
        if( memcmp( pcDoc + i, pcNeedle, n ) == 0 )
        {
            return pdTRUE;
        }
    }

    return pdFALSE;
}

static BaseType_t prvUpdatedCb( void * pvUserData, const char * pcThingName, const char * pcDoc,
                                uint32_t ulLength, MQTTBufferHandle_t xBuffer )
{
    Rec_t * pxRec = prvRec( pvUserData );

    if( pxRec == NULL )
    {
        return pdFALSE;
    }

    snprintf( pxRec->cUpdatedThing, sizeof( pxRec->cUpdatedThing ), "%s", pcThingName );
    prvCopy( pxRec->cUpdated, sizeof( pxRec->cUpdated ), pcDoc, ulLength );
    pxRec->ulUpdatedLength = ulLength;

    BaseType_t xKeep = pxRec->xKeepUpdated;

    if( xKeep == pdTRUE )
    {
        pxRec->xKeepUpdated = pdFALSE;
        pxRec->xKept = xBuffer;
    }

    pxRec->iUpdated++;
    return xKeep;
}

static void prvDeletedCb( void * pvUserData, const char * pcThingName )
{
    Rec_t * pxRec = prvRec( pvUserData );

    if( pxRec != NULL )
    {
        snprintf( pxRec->cDeletedThing, sizeof( pxRec->cDeletedThing ), "%s", pcThingName );
        pxRec->iDeleted++;
    }
}

static BaseType_t prvDeltaCb( void * pvUserData, const char * pcThingName, const char * pcDoc,
                              uint32_t ulLength, MQTTBufferHandle_t xBuffer )
{
    Rec_t * pxRec = prvRec( pvUserData );

    if( pxRec == NULL )
    {
        return pdFALSE;
    }

    snprintf( pxRec->cDeltaThing, sizeof( pxRec->cDeltaThing ), "%s", pcThingName );
    prvCopy( pxRec->cDelta, sizeof( pxRec->cDelta ), pcDoc, ulLength );

    if( pxRec->xNest == pdTRUE )
    {
        /* The API from the agent task would deadlock: every call refuses. */
        static const char cDoc[] = "{\"state\":{\"reported\":{\"nested\":1}}}";
        ShadowOperationParams_t xOp = { pcThingName, NULL, 0, NULL, 0, eMQTTQoS0 };
        ShadowCallbackParams_t xCb = { pcThingName, NULL, NULL, NULL };
        ShadowCreateParams_t xCreate = { eDedicatedMQTTClient, NULL };
        ShadowClientHandle_t xNew = NULL;

        pxRec->xNestedGet = SHADOW_Get( pxRec->xHandle, &xOp, 10 );
        xOp.pcData = cDoc;
        xOp.ulDataLength = sizeof( cDoc ) - 1;
        pxRec->xNestedUpdate = SHADOW_Update( pxRec->xHandle, &xOp, 10 );
        pxRec->xNestedRegister = SHADOW_RegisterCallbacks( pxRec->xHandle, &xCb, 10 );
        pxRec->xNestedDisconnect = SHADOW_ClientDisconnect( pxRec->xHandle );
        pxRec->xNestedCreate = SHADOW_ClientCreate( &xNew, &xCreate );
        pxRec->xNestedCreated = xNew;
        pxRec->xNest = pdFALSE;
        pxRec->iNested++;
    }

    BaseType_t xKeep = pxRec->xKeepDelta;

    if( xKeep == pdTRUE )
    {
        pxRec->xKeepDelta = pdFALSE;
        pxRec->xKept = xBuffer;
    }

    pxRec->iDelta++;
    return xKeep;
}

/* The application's connect callback: agent events still reach it. */
static BaseType_t prvAppCallback( void * pvUserData, const MQTTAgentCallbackParams_t * const pxParams )
{
    Rec_t * pxRec = prvRec( pvUserData );

    if( pxRec != NULL )
    {
        if( pxParams->xMQTTEvent == eMQTTAgentDisconnect )
        {
            pxRec->iAppDisconnect++;
        }
        else
        {
            pxRec->iAppPublish++;
        }
    }

    return pdFALSE;
}

static MQTTBool_t prvProbeCb( void * pvCtx, const MQTTPublishData_t * const pxData )
{
    ( void ) pvCtx;
    ( void ) pxData;
    return eMQTTFalse;
}

/*------------------------------------- helpers -------------------------------------*/

static ShadowClientHandle_t xDevA = NULL, xDevB = NULL, xDevC = NULL;
static MQTTAgentHandle_t xAppS = NULL; /* The application's agent client under B. */
static MQTTAgentConnectParams_t xConnA, xConnB, xConnC;

static MQTTAgentConnectParams_t prvConnectParams( uint16_t usPort, const char * pcId, void * pvUserData )
{
    MQTTAgentConnectParams_t x =
    {
        .pcURL            = "127.0.0.1",
        .xFlags           = mqttagentURL_IS_IP_ADDRESS,
        .usPort           = usPort,
        .pucClientId      = ( const uint8_t * ) pcId,
        .usClientIdLength = ( uint16_t ) strlen( pcId ),
        .pvUserData       = pvUserData,
        .pxCallback       = prvAppCallback,
    };

    return x;
}

/* A harness command built printf-style; the result (if any) into pcOut. */
static BaseType_t prvCtl( char * pcOut, size_t xOutSize, const char * pcFormat, ... )
{
    char cCommand[ 512 ];
    va_list ap;

    va_start( ap, pcFormat );
    vsnprintf( cCommand, sizeof( cCommand ), pcFormat, ap );
    va_end( ap );
    return xTestControl( cCommand, pcOut, xOutSize, TEST_CONTROL_TIMEOUT );
}

/* Free entries in an agent client's subscription table: subscribe probes with
 * callbacks until it is full, then unsubscribe them. */
static int prvFreeSlots( MQTTAgentHandle_t xClient )
{
    char cFilter[ 32 ];
    int n = 0;

    for( ; n < MAX_SUBS; n++ )
    {
        snprintf( cFilter, sizeof( cFilter ), "probe/%d", n );

        if( xUtilSubscribe( xClient, cFilter, eMQTTQoS0, prvProbeCb, NULL ) != eMQTTAgentSuccess )
        {
            break;
        }
    }

    for( int i = 0; i < n; i++ )
    {
        snprintf( cFilter, sizeof( cFilter ), "probe/%d", i );
        MQTTAgentUnsubscribeParams_t x = { ( const uint8_t * ) cFilter, ( uint16_t ) strlen( cFilter ) };
        TEST_CHECK( MQTT_AGENT_Unsubscribe( xClient, &x, T_TIMEOUT ) == eMQTTAgentSuccess );
    }

    return n;
}

static ShadowReturnCode_t prvUpdate( ShadowClientHandle_t xClient, const char * pcThing, const char * pcDoc,
                                     uint8_t ucKeep, MQTTQoS_t xQoS, TickType_t xTimeout )
{
    ShadowOperationParams_t xOp = { pcThing, pcDoc, ( uint32_t ) strlen( pcDoc ), NULL, ucKeep, xQoS };

    return SHADOW_Update( xClient, &xOp, xTimeout );
}

static ShadowReturnCode_t prvDelete( ShadowClientHandle_t xClient, const char * pcThing )
{
    ShadowOperationParams_t xOp = { pcThing, NULL, 0, NULL, 0, eMQTTQoS1 };

    return SHADOW_Delete( xClient, &xOp, T_TIMEOUT );
}

/* SHADOW_Get; the document is copied to pcOut (if given) and the buffer given back. */
static ShadowReturnCode_t prvGet( ShadowClientHandle_t xClient, const char * pcThing, char * pcOut, size_t xOutSize,
                                  uint32_t * pulLength )
{
    ShadowOperationParams_t xOp = { pcThing, NULL, 0, NULL, 0, eMQTTQoS1 };
    ShadowReturnCode_t r = SHADOW_Get( xClient, &xOp, T_TIMEOUT );

    if( r == eShadowSuccess )
    {
        TEST_CHECK( xOp.xBuffer != NULL );
        TEST_CHECK( xOp.pcData != NULL );

        if( pcOut != NULL )
        {
            prvCopy( pcOut, xOutSize, xOp.pcData, xOp.ulDataLength );
        }

        if( pulLength != NULL )
        {
            *pulLength = xOp.ulDataLength;
        }

        TEST_CHECK( SHADOW_ReturnMQTTBuffer( xClient, xOp.xBuffer ) == eShadowSuccess );
    }
    else
    {
        TEST_CHECK( xOp.xBuffer == NULL );
    }

    return r;
}

/* The top-level "version" of a shadow document (-1 if absent). */
static long prvVersion( const char * pcDoc )
{
    const char * p = strstr( pcDoc, "\"version\":" );

    return ( p != NULL ) ? strtol( p + 10, NULL, 10 ) : -1;
}

static ShadowReturnCode_t prvRegister( ShadowClientHandle_t xClient, const char * pcThing,
                                       ShadowUpdatedCallback_t xUpdated, ShadowDeletedCallback_t xDeleted,
                                       ShadowDeltaCallback_t xDelta )
{
    ShadowCallbackParams_t x = { pcThing, xUpdated, xDeleted, xDelta };

    return SHADOW_RegisterCallbacks( xClient, &x, T_TIMEOUT );
}

/* Waits until *pi reaches iTarget, then QUIET_WAIT more, and checks it stayed at iTarget. */
static BaseType_t prvExactly( volatile int * pi, int iTarget )
{
    BaseType_t xReached = xUtilWaitFor( pi, iTarget, CB_WAIT );

    vTaskDelay( QUIET_WAIT );
    return ( xReached == pdTRUE ) && ( *pi == iTarget );
}

/* Nothing arrives on *pi (from its current value) for QUIET_WAIT. */
static BaseType_t prvStays( volatile int * pi )
{
    int iBefore = *pi;

    vTaskDelay( QUIET_WAIT );
    return *pi == iBefore;
}

/* One more call on *pi than *piSeen counted (exactly, see prvExactly); *piSeen
 * follows the real count, so one missed event fails one check, not every later one. */
static BaseType_t prvOneMore( volatile int * pi, int * piSeen )
{
    BaseType_t xOk = prvExactly( pi, *piSeen + 1 );

    *piSeen = *pi;
    return xOk;
}

/*--------------------------------------- cases -------------------------------------*/

static void prvCreateBadArguments( void )
{
    ShadowClientHandle_t xHandle = NULL;
    ShadowCreateParams_t xParams = { eDedicatedMQTTClient, NULL };

    TEST_CHECK( SHADOW_ClientCreate( NULL, &xParams ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientCreate( &xHandle, NULL ) == eShadowFailure );
    /* Shared without an MQTT client. */
    xParams.xMQTTClientType = eSharedMQTTClient;
    xParams.xMQTTClientHandle = NULL;
    TEST_CHECK( SHADOW_ClientCreate( &xHandle, &xParams ) == eShadowFailure );
    /* An unknown client type, stored through an integer as a C caller could. */
    *( volatile uint32_t * ) &xParams.xMQTTClientType = 7;
    TEST_CHECK( SHADOW_ClientCreate( &xHandle, &xParams ) == eShadowFailure );
    TEST_CHECK( xHandle == NULL );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvCreateAndConnect( void )
{
    ShadowCreateParams_t xDedicated = { eDedicatedMQTTClient, NULL };

    prvRecReset( &xRecA );
    prvRecReset( &xRecB );
    prvRecReset( &xRecC );

    /* A: dedicated, straight to the broker. */
    TEST_ASSERT( SHADOW_ClientCreate( &xDevA, &xDedicated ) == eShadowSuccess );
    TEST_ASSERT( xDevA != NULL );
    xRecA.xHandle = xDevA;
    xConnA = prvConnectParams( usTestBrokerPort(), "shd-dev-a", &xRecA );
    TEST_CHECK( SHADOW_ClientConnect( xDevA, NULL, T_TIMEOUT ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientConnect( NULL, &xConnA, T_TIMEOUT ) == eShadowFailure );
    TEST_ASSERT( SHADOW_ClientConnect( xDevA, &xConnA, T_TIMEOUT ) == eShadowSuccess );
    /* Connecting a connected client again fails (the agent refuses) and leaves it usable. */
    TEST_CHECK( SHADOW_ClientConnect( xDevA, &xConnA, T_TIMEOUT ) == eShadowFailure );

    /* B: shared, on the application's agent client S, through the relay. */
    TEST_ASSERT( MQTT_AGENT_Create( &xAppS ) == eMQTTAgentSuccess );
    ShadowCreateParams_t xShared = { eSharedMQTTClient, xAppS };
    TEST_ASSERT( SHADOW_ClientCreate( &xDevB, &xShared ) == eShadowSuccess );
    TEST_ASSERT( xDevB != NULL );
    TEST_CHECK( xDevB != xDevA );
    xRecB.xHandle = xDevB;
    xConnB = prvConnectParams( usTestRelayPort(), "shd-dev-b", &xRecB );
    TEST_ASSERT( SHADOW_ClientConnect( xDevB, &xConnB, T_TIMEOUT ) == eShadowSuccess );
    /* The application's agent client is the one that got connected. */
    TEST_CHECK( xUtilPublish( xAppS, "app/hello", eMQTTQoS1, "hi", 2, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xRecA.iAppDisconnect == 0 && xRecB.iAppDisconnect == 0 );
}

static void prvClientLimit( void )
{
    ShadowCreateParams_t xDedicated = { eDedicatedMQTTClient, NULL };
    ShadowCreateParams_t xShared = { eSharedMQTTClient, xAppS };
    ShadowClientHandle_t xThird = NULL, xFourth = NULL, xAgain = NULL;

    /* shadowconfigMAX_CLIENTS (3): A and B exist. */
    TEST_ASSERT( shadowconfigMAX_CLIENTS == 3 );
    TEST_ASSERT( SHADOW_ClientCreate( &xThird, &xDedicated ) == eShadowSuccess );
    TEST_CHECK( SHADOW_ClientCreate( &xFourth, &xDedicated ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientCreate( &xFourth, &xShared ) == eShadowFailure );
    TEST_CHECK( xFourth == NULL );
    TEST_CHECK( SHADOW_ClientDelete( xThird ) == eShadowSuccess );

    /* No MQTT agent client left for a dedicated shadow client: the create
     * fails and gives its slot back. A's and S use two of mqttconfigMAX_BROKERS. */
    MQTTAgentHandle_t xAgents[ mqttconfigMAX_BROKERS ];
    int n = 0;

    while( n < mqttconfigMAX_BROKERS && MQTT_AGENT_Create( &xAgents[ n ] ) == eMQTTAgentSuccess )
    {
        n++;
    }

    TEST_CHECK( n == mqttconfigMAX_BROKERS - 2 );
    TEST_CHECK( SHADOW_ClientCreate( &xAgain, &xDedicated ) == eShadowFailure );
    TEST_CHECK( xAgain == NULL );

    if( n > 0 )
    {
        TEST_CHECK( MQTT_AGENT_Delete( xAgents[ --n ] ) == eMQTTAgentSuccess );
        TEST_CHECK( SHADOW_ClientCreate( &xAgain, &xDedicated ) == eShadowSuccess );
        TEST_CHECK( SHADOW_ClientDelete( xAgain ) == eShadowSuccess );
    }

    while( n > 0 )
    {
        TEST_CHECK( MQTT_AGENT_Delete( xAgents[ --n ] ) == eMQTTAgentSuccess );
    }

    /* The slots are free again: one more client fits (and goes). */
    xAgain = NULL;
    TEST_CHECK( SHADOW_ClientCreate( &xAgain, &xShared ) == eShadowSuccess );
    TEST_CHECK( SHADOW_ClientDelete( xAgain ) == eShadowSuccess );
}

static void prvNotConnected( void )
{
    ShadowCreateParams_t xDedicated = { eDedicatedMQTTClient, NULL };
    ShadowClientHandle_t xIdle = NULL;
    static const char cDoc[] = "{\"state\":{\"reported\":{\"x\":1}}}";
    ShadowOperationParams_t xOp = { "t-idle", cDoc, sizeof( cDoc ) - 1, NULL, 0, eMQTTQoS1 };
    ShadowCallbackParams_t xCb = { "t-idle", NULL, NULL, prvDeltaCb };

    TEST_ASSERT( SHADOW_ClientCreate( &xIdle, &xDedicated ) == eShadowSuccess );
    TickType_t xStart = xTaskGetTickCount();
    TEST_CHECK( SHADOW_Update( xIdle, &xOp, T_TIMEOUT ) == eShadowFailure );
    TEST_CHECK( SHADOW_Get( xIdle, &xOp, T_TIMEOUT ) == eShadowFailure );
    TEST_CHECK( SHADOW_Delete( xIdle, &xOp, T_TIMEOUT ) == eShadowFailure );
    TEST_CHECK( SHADOW_RegisterCallbacks( xIdle, &xCb, T_TIMEOUT ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientDisconnect( xIdle ) == eShadowFailure );
    TickType_t xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xTook < 1000, "refusals took %lu ticks", ( unsigned long ) xTook ); /* Promptly, no timeout. */
    TEST_CHECK( SHADOW_ClientDelete( xIdle ) == eShadowSuccess );
}

/* Update, Get and Delete with every return code that needs no special document. */
static void prvOperations( ShadowClientHandle_t xClient, const char * pcThing )
{
    char cDoc[ 2048 ];
    uint32_t ulLength = 0;

    TEST_ASSERT( prvCtl( NULL, 0, "shadow-reset" ) == pdPASS );

    /* No shadow yet: 404 for Get and Delete; Get leaves xBuffer NULL. */
    TEST_CHECK( prvGet( xClient, pcThing, NULL, 0, NULL ) == eShadowRejectedNotFound );
    TEST_CHECK( prvDelete( xClient, pcThing ) == eShadowRejectedNotFound );

    /* Update without a clientToken (the library adds one). */
    TEST_CHECK( prvUpdate( xClient, pcThing, "{\"state\":{\"reported\":{\"on\":true,\"level\":3}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvCtl( cDoc, sizeof( cDoc ), "shadow-get %s", pcThing ) == pdPASS );
    TEST_CHECK_MSG( strstr( cDoc, "\"level\":3" ) != NULL, "service has %s", cDoc );

    /* With the application's own clientToken, at QoS 0, with the C string's
     * NUL counted in the length (as AFR applications often do). */
    static const char cOwnToken[] = "{\"clientToken\":\"app-token-1\",\"state\":{\"desired\":{\"level\":5}}}";
    ShadowOperationParams_t xOp = { pcThing, cOwnToken, sizeof( cOwnToken ), NULL, 0, eMQTTQoS0 };
    TEST_CHECK( SHADOW_Update( xClient, &xOp, T_TIMEOUT ) == eShadowSuccess );

    /* The longest clientToken AWS allows: 64 characters. */
    char cLongToken[ 160 ];
    snprintf( cLongToken, sizeof( cLongToken ), "{\"state\":{\"reported\":{\"on\":false}},\"clientToken\":\"%064d\"}", 7 );
    TEST_CHECK( prvUpdate( xClient, pcThing, cLongToken, 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );

    /* Get: the document in an MQTT buffer, until given back. */
    ShadowOperationParams_t xGet = { pcThing, NULL, 0, NULL, 0, eMQTTQoS1 };
    TEST_ASSERT( SHADOW_Get( xClient, &xGet, T_TIMEOUT ) == eShadowSuccess );
    TEST_ASSERT( xGet.xBuffer != NULL && xGet.pcData != NULL );
    TEST_CHECK( prvContains( xGet.pcData, xGet.ulDataLength, "\"level\":5" ) );  /* desired */
    TEST_CHECK( prvContains( xGet.pcData, xGet.ulDataLength, "\"on\":false" ) ); /* reported */
    TEST_CHECK( prvContains( xGet.pcData, xGet.ulDataLength, "\"version\":" ) );
    TEST_CHECK( xGet.pcData[ 0 ] == '{' && xGet.pcData[ xGet.ulDataLength - 1 ] == '}' );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS - 1 );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xClient, xGet.xBuffer ) == eShadowSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xClient, xGet.xBuffer ) == eShadowFailure ); /* Twice. */

    /* Get at QoS 0 works the same. */
    xGet.xQoS = eMQTTQoS0;
    xGet.xBuffer = NULL;
    TEST_CHECK( SHADOW_Get( xClient, &xGet, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( xGet.xBuffer != NULL && prvContains( xGet.pcData, xGet.ulDataLength, "\"level\":5" ) );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xClient, xGet.xBuffer ) == eShadowSuccess );

    /* Versions go up by one per update. */
    TEST_CHECK( prvGet( xClient, pcThing, cDoc, sizeof( cDoc ), &ulLength ) == eShadowSuccess );
    long lVersion = prvVersion( cDoc );
    TEST_CHECK_MSG( lVersion == 3, "version %ld in %s", lVersion, cDoc );

    /* Delete, at QoS 0 too; then it is gone. */
    ShadowOperationParams_t xDel = { pcThing, NULL, 0, NULL, 0, eMQTTQoS0 };
    TEST_CHECK( SHADOW_Delete( xClient, &xDel, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvGet( xClient, pcThing, NULL, 0, NULL ) == eShadowRejectedNotFound );
    TEST_CHECK( prvDelete( xClient, pcThing ) == eShadowRejectedNotFound );
    TEST_CHECK( prvCtl( cDoc, sizeof( cDoc ), "shadow-get %s", pcThing ) != pdPASS || strstr( cDoc, "level" ) == NULL );

    /* A new shadow after the delete. */
    TEST_CHECK( prvUpdate( xClient, pcThing, "{\"state\":{\"reported\":{\"again\":1}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvGet( xClient, pcThing, cDoc, sizeof( cDoc ), NULL ) == eShadowSuccess );
    TEST_CHECK_MSG( strstr( cDoc, "\"again\":1" ) != NULL && strstr( cDoc, "level" ) == NULL, "after delete: %s", cDoc );
    TEST_CHECK( prvDelete( xClient, pcThing ) == eShadowSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvOperationsDedicated( void )
{
    prvOperations( xDevA, "t-ops-a" );
}

static void prvOperationsShared( void )
{
    prvOperations( xDevB, "t-ops-b" );
}

static void prvClientTokens( void )
{
    static const char * const pcThing = "t-token";
    char cDoc[ 1024 ];

    /* A "clientToken" below the top level is state, not the request's token. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"clientToken\":\"inner\"}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvGet( xDevA, pcThing, cDoc, sizeof( cDoc ), NULL ) == eShadowSuccess );
    TEST_CHECK_MSG( strstr( cDoc, "\"reported\":{\"clientToken\":\"inner\"}" ) != NULL, "%s", cDoc );

    /* The same token twice in a row: each answer matches its own request. */
    static const char cSame[] = "{\"clientToken\":\"same\",\"state\":{\"reported\":{\"n\":1}}}";
    TEST_CHECK( prvUpdate( xDevA, pcThing, cSame, 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvUpdate( xDevA, pcThing, cSame, 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );

    /* Tokens with JSON escapes: the service reads the token's value and echoes
     * it re-encoded, so the answer's token may be spelt differently. */
    static const struct
    {
        const char * pcWhat;
        const char * pcDoc;
    } xEscaped[] =
    {
        { "escaped quote", "{\"clientToken\":\"tok\\\"q\",\"state\":{\"reported\":{\"n\":2}}}" },
        { "escaped slash", "{\"clientToken\":\"a\\/b\",\"state\":{\"reported\":{\"n\":3}}}" },
        { "unicode escape", "{\"clientToken\":\"\\u0041BC\",\"state\":{\"reported\":{\"n\":4}}}" },
    };

    for( size_t i = 0; i < sizeof( xEscaped ) / sizeof( xEscaped[ 0 ] ); i++ )
    {
        TickType_t xStart = xTaskGetTickCount();
        ShadowReturnCode_t r = prvUpdate( xDevA, pcThing, xEscaped[ i ].pcDoc, 0, eMQTTQoS1, 1500 );
        vTestNote( "token with %s: %d after %lu ticks", xEscaped[ i ].pcWhat, ( int ) r,
                   ( unsigned long ) ( xTaskGetTickCount() - xStart ) );
        /* Tokens are compared by value: a re-encoded echo ("a\/b" -> "a/b")
         * still answers the request (no false eShadowTimeout). */
        TEST_CHECK_MSG( r == eShadowSuccess, "%s: %d", xEscaped[ i ].pcWhat, ( int ) r );
    }

    TEST_CHECK( prvDelete( xDevA, pcThing ) == eShadowSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvRejections( void )
{
    static const char * const pcThing = "t-reject";
    char cDoc[ 2048 ];
    char cVersioned[ 128 ];

    /* The service's 400s: no state, state not an object, reported not an object. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"desired\":{\"a\":1}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowRejectedBadRequest );
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":\"on\"}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowRejectedBadRequest );
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":5}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowRejectedBadRequest );
    /* Rejected at QoS 0 and with the application's token too. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"clientToken\":\"bad-1\",\"x\":1}", 0, eMQTTQoS0, T_TIMEOUT ) == eShadowRejectedBadRequest );
    /* A state section other than desired/reported. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"wanted\":{\"a\":1}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowRejectedBadRequest );
    /* A version that is not a non-negative integer: the library reads "version"
     * as an integer and refuses the document itself (or the service: 400). */
    ShadowReturnCode_t r = prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"a\":1}},\"version\":\"x\"}", 0, eMQTTQoS1, T_TIMEOUT );
    TEST_CHECK_MSG( r == eShadowFailure || r == eShadowRejectedBadRequest, "version \"x\": %d", ( int ) r );
    r = prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"a\":1}},\"version\":-1}", 0, eMQTTQoS1, T_TIMEOUT );
    TEST_CHECK_MSG( r == eShadowFailure || r == eShadowRejectedBadRequest, "version -1: %d", ( int ) r );
    /* Seven levels of nesting below "reported" (AWS allows six). */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":1}}}}}}}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowRejectedBadRequest );

    /* Documents the library lets through but the service cannot read: it
     * rejects them without a clientToken (it could not read one). Such an
     * answer cannot be told from one to another client of the same thing, so
     * it completes nothing: the caller gets a local refusal or its timeout. */
    static const struct
    {
        const char * pcWhat;
        const char * pcDoc;
    } xUnreadable[] =
    {
        { "number out of range (400 Invalid JSON)", "{\"state\":{\"reported\":{\"a\":1e999}}}" },
        { "invalid UTF-8 (415)",                    "{\"state\":{\"reported\":{\"a\":\"\xff\xfe\"}}}" },
    };

    for( size_t i = 0; i < sizeof( xUnreadable ) / sizeof( xUnreadable[ 0 ] ); i++ )
    {
        TickType_t xStart = xTaskGetTickCount();
        ShadowReturnCode_t r = prvUpdate( xDevA, pcThing, xUnreadable[ i ].pcDoc, 0, eMQTTQoS1, 1500 );
        TickType_t xTook = xTaskGetTickCount() - xStart;
        vTestNote( "%s: %d after %lu ticks", xUnreadable[ i ].pcWhat, ( int ) r, ( unsigned long ) xTook );
        /* The service cannot read the request, so its /rejected carries no
         * clientToken: that answers no request (the thing's topics are shared
         * by every client of the thing), and the update times out. */
        TEST_CHECK_MSG( r == eShadowTimeout || r == eShadowFailure, "%s: %d", xUnreadable[ i ].pcWhat, ( int ) r );
    }

    /* Nothing was created. */
    TEST_CHECK( prvGet( xDevA, pcThing, NULL, 0, NULL ) == eShadowRejectedNotFound );

    /* What is not a JSON object (or has a non-string clientToken) never leaves the device. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "not json", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowFailure );
    TEST_CHECK( prvUpdate( xDevA, pcThing, "[1,2]", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowFailure );
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowFailure );
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"clientToken\":5,\"state\":{\"reported\":{}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowFailure );
    /* A null clientToken too: the library would add its own beside it (two
     * members; the service would answer 400 without a token, a timeout). */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"clientToken\":null,\"state\":{\"reported\":{\"a\":1}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowFailure );

    /* 409: an update naming a version that is no longer current. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"v\":1}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"v\":2}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_ASSERT( prvGet( xDevA, pcThing, cDoc, sizeof( cDoc ), NULL ) == eShadowSuccess );
    long lVersion = prvVersion( cDoc );
    TEST_ASSERT( lVersion > 0 );
    snprintf( cVersioned, sizeof( cVersioned ), "{\"state\":{\"reported\":{\"v\":3}},\"version\":%ld}", lVersion );
    TEST_CHECK( prvUpdate( xDevA, pcThing, cVersioned, 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    /* The same version again is stale now. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, cVersioned, 0, eMQTTQoS1, T_TIMEOUT ) == eShadowRejectedConflict );
    snprintf( cVersioned, sizeof( cVersioned ), "{\"state\":{\"reported\":{\"v\":4}},\"version\":%ld}", lVersion - 1 );
    TEST_CHECK( prvUpdate( xDevA, pcThing, cVersioned, 0, eMQTTQoS0, T_TIMEOUT ) == eShadowRejectedConflict );
    TEST_CHECK( prvGet( xDevA, pcThing, cDoc, sizeof( cDoc ), NULL ) == eShadowSuccess );
    TEST_CHECK_MSG( strstr( cDoc, "\"v\":3" ) != NULL && prvVersion( cDoc ) == lVersion + 1, "after 409: %s", cDoc );
    TEST_CHECK( prvDelete( xDevA, pcThing ) == eShadowSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

/* {"state":{"reported":{"blob":"xxx…"}}} with ulBlob x's; returns the length. */
static uint32_t prvBlobDocument( char * pcOut, uint32_t ulBlob )
{
    uint32_t n = ( uint32_t ) sprintf( pcOut, "{\"state\":{\"reported\":{\"blob\":\"" );

    memset( pcOut + n, 'x', ulBlob );
    n += ulBlob;
    n += ( uint32_t ) sprintf( pcOut + n, "\"}}}" );
    return n;
}

static void prvLargeDocuments( void )
{
    static char cBig[ 12 * 1024 ];
    static char cRead[ 12 * 1024 ];
    uint32_t ulLength = 0;

    /* ~7 KB: accepted, no false timeout (matching reads only the clientToken). */
    uint32_t ulBig = prvBlobDocument( cBig, 7000 );
    ShadowOperationParams_t xOp = { "t-large", cBig, ulBig, NULL, 0, eMQTTQoS1 };
    TickType_t xStart = xTaskGetTickCount();
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    vTestNote( "7 KB update: %lu ticks", ( unsigned long ) ( xTaskGetTickCount() - xStart ) );
    TEST_CHECK( prvGet( xDevA, "t-large", cRead, sizeof( cRead ), &ulLength ) == eShadowSuccess );
    const char * pcBlob = strstr( cRead, "\"blob\":\"" );
    TEST_CHECK_MSG( ulLength > 7000 && pcBlob != NULL && strspn( pcBlob + 8, "x" ) == 7000,
                    "get returned %lu bytes", ( unsigned long ) ulLength );

    /* An updated callback gets update/documents whole: previous and current
     * documents of ~7 KB each, in one pool buffer. */
    prvRecReset( &xRecA );
    TEST_ASSERT( prvRegister( xDevA, "t-large", prvUpdatedCb, NULL, NULL ) == eShadowSuccess );
    ulBig = prvBlobDocument( cBig, 7100 );
    xOp.pcData = cBig;
    xOp.ulDataLength = ulBig;
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvExactly( &xRecA.iUpdated, 1 ) );
    TEST_CHECK_MSG( xRecA.ulUpdatedLength > 14100, "documents: %lu bytes", ( unsigned long ) xRecA.ulUpdatedLength );
    TEST_CHECK( strncmp( xRecA.cUpdated, "{\"previous\":{", 13 ) == 0 );
    TEST_CHECK( prvRegister( xDevA, "t-large", NULL, NULL, NULL ) == eShadowSuccess );

    /* Many JSON tokens (far beyond AFR's 64 jsmn tokens): accepted too. */
    uint32_t n = ( uint32_t ) sprintf( cBig, "{\"state\":{\"reported\":{" );

    for( int i = 0; i < 300; i++ )
    {
        n += ( uint32_t ) sprintf( cBig + n, "%s\"k%d\":[%d,true]", ( i > 0 ) ? "," : "", i, i );
    }

    n += ( uint32_t ) sprintf( cBig + n, "}}}" );
    xOp.pcThingName = "t-tokens";
    xOp.pcData = cBig;
    xOp.ulDataLength = n;
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvGet( xDevA, "t-tokens", cRead, sizeof( cRead ), &ulLength ) == eShadowSuccess );
    TEST_CHECK( strstr( cRead, "\"k299\":[299,true]" ) != NULL );

    /* Over 8 KB of state: 413 from the service. */
    xOp.pcThingName = "t-large";
    xOp.pcData = cBig;
    xOp.ulDataLength = prvBlobDocument( cBig, 9000 );
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowRejectedPayloadTooLarge );
    /* The 7 KB shadow is unchanged. */
    TEST_CHECK( prvGet( xDevA, "t-large", cRead, sizeof( cRead ), &ulLength ) == eShadowSuccess );
    TEST_CHECK( ulLength > 7000 && ulLength < 9000 );

    TEST_CHECK( prvDelete( xDevA, "t-large" ) == eShadowSuccess );
    TEST_CHECK( prvDelete( xDevA, "t-tokens" ) == eShadowSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvKeepSubscriptions( void )
{
    static const char * const pcThing = "t-keep";
    static const char cDoc[] = "{\"state\":{\"reported\":{\"k\":1}}}";
    ShadowOperationParams_t xOp = { pcThing, cDoc, sizeof( cDoc ) - 1, NULL, 1, eMQTTQoS1 };

    /* B is on S, whose subscription table shows what the shadow client holds. */
    int iBase = prvFreeSlots( xAppS );
    TEST_CHECK( iBase == MAX_SUBS );

    /* keep=1: update/accepted and update/rejected stay subscribed, once. */
    TEST_CHECK( SHADOW_Update( xDevB, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase - 2 );
    TEST_CHECK( SHADOW_Update( xDevB, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase - 2 );

    /* While kept, another client's update of the same thing reaches B's
     * update/accepted too: ignored (not B's token), its buffer recycled. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"k\":2}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    vTaskDelay( 200 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );

    /* keep=0: unsubscribed afterwards. */
    xOp.ucKeepSubscriptions = 0;
    TEST_CHECK( SHADOW_Update( xDevB, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase );

    /* Get keeps its own pair; Update's stays independent. */
    ShadowOperationParams_t xGet = { pcThing, NULL, 0, NULL, 1, eMQTTQoS1 };
    TEST_CHECK( SHADOW_Get( xDevB, &xGet, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xDevB, xGet.xBuffer ) == eShadowSuccess );
    xOp.ucKeepSubscriptions = 1;
    TEST_CHECK( SHADOW_Update( xDevB, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase - 4 );
    xGet.ucKeepSubscriptions = 0;
    xGet.xBuffer = NULL;
    TEST_CHECK( SHADOW_Get( xDevB, &xGet, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xDevB, xGet.xBuffer ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase - 2 );
    xOp.ucKeepSubscriptions = 0;
    TEST_CHECK( SHADOW_Update( xDevB, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase );

    /* Delete with keep=1 then 0. */
    ShadowOperationParams_t xDel = { pcThing, NULL, 0, NULL, 1, eMQTTQoS1 };
    TEST_CHECK( SHADOW_Delete( xDevB, &xDel, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase - 2 );
    xDel.ucKeepSubscriptions = 0;
    TEST_CHECK( SHADOW_Delete( xDevB, &xDel, T_TIMEOUT ) == eShadowRejectedNotFound );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase );

    /* A topic both a callback and an operation use (delete/accepted): each use
     * counts; the last one unsubscribes it. */
    TEST_CHECK( prvUpdate( xDevB, pcThing, cDoc, 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvRegister( xDevB, pcThing, NULL, prvDeletedCb, NULL ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase - 1 );
    xDel.ucKeepSubscriptions = 1;
    TEST_CHECK( SHADOW_Delete( xDevB, &xDel, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase - 2 );
    TEST_CHECK( prvRegister( xDevB, pcThing, NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase - 2 ); /* Still kept by the delete. */
    xDel.ucKeepSubscriptions = 0;
    TEST_CHECK( SHADOW_Delete( xDevB, &xDel, T_TIMEOUT ) == eShadowRejectedNotFound );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase );

    /* The dedicated client, the same sequence: two updates with keep=1, one with keep=0. */
    xOp.ucKeepSubscriptions = 1;
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    xOp.ucKeepSubscriptions = 0;
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvDelete( xDevA, pcThing ) == eShadowSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvCallbacks( void )
{
    static const char * const pcThing = "t-cb";

    int iDelta = 0, iUpdated = 0, iDeleted = 0; /* Calls seen so far. */

    prvRecReset( &xRecA );
    prvRecReset( &xRecB );
    TEST_ASSERT( prvRegister( xDevA, pcThing, prvUpdatedCb, prvDeletedCb, prvDeltaCb ) == eShadowSuccess );
    /* Registering the same callbacks again changes nothing (no duplicate calls). */
    TEST_ASSERT( prvRegister( xDevA, pcThing, prvUpdatedCb, prvDeletedCb, prvDeltaCb ) == eShadowSuccess );

    /* An outside change of desired (the service's console): delta and documents. */
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"color\":\"red\"}}}", pcThing ) == pdPASS );
    TEST_CHECK( prvOneMore( &xRecA.iDelta, &iDelta ) );
    TEST_CHECK( prvOneMore( &xRecA.iUpdated, &iUpdated ) );
    TEST_CHECK( strcmp( xRecA.cDeltaThing, pcThing ) == 0 );
    TEST_CHECK( strcmp( xRecA.cUpdatedThing, pcThing ) == 0 );
    TEST_CHECK_MSG( strstr( xRecA.cDelta, "\"color\":\"red\"" ) != NULL, "delta %s", xRecA.cDelta );
    TEST_CHECK_MSG( strstr( xRecA.cUpdated, "\"previous\"" ) != NULL && strstr( xRecA.cUpdated, "\"current\"" ) != NULL,
                    "documents %s", xRecA.cUpdated );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );

    /* Another client (B) changes desired: delta on A. */
    TEST_CHECK( prvUpdate( xDevB, pcThing, "{\"state\":{\"desired\":{\"color\":\"blue\"}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvOneMore( &xRecA.iDelta, &iDelta ) );
    TEST_CHECK_MSG( strstr( xRecA.cDelta, "\"color\":\"blue\"" ) != NULL, "delta %s", xRecA.cDelta );
    TEST_CHECK( prvOneMore( &xRecA.iUpdated, &iUpdated ) );

    /* A reports what is desired: documents (its own update), no delta. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"color\":\"blue\"}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvOneMore( &xRecA.iUpdated, &iUpdated ) );
    TEST_CHECK( strstr( xRecA.cUpdated, "\"reported\"" ) != NULL );
    TEST_CHECK( xRecA.iDelta == iDelta );
    TEST_CHECK( xRecB.iDelta == 0 && xRecB.iUpdated == 0 ); /* B registered nothing. */

    /* Ownership: the delta callback keeps its buffer; it is given back later. */
    xRecA.xKeepDelta = pdTRUE;
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"color\":\"green\"}}}", pcThing ) == pdPASS );
    TEST_CHECK( prvOneMore( &xRecA.iDelta, &iDelta ) );
    TEST_CHECK( prvOneMore( &xRecA.iUpdated, &iUpdated ) );
    TEST_CHECK( xRecA.xKept != NULL );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS - 1 );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xDevA, xRecA.xKept ) == eShadowSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xDevA, xRecA.xKept ) == eShadowFailure );

    /* The updated callback keeps its buffer. */
    xRecA.xKept = NULL;
    xRecA.xKeepUpdated = pdTRUE;
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"color\":\"green\"}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvOneMore( &xRecA.iUpdated, &iUpdated ) );
    TEST_CHECK( xRecA.xKept != NULL );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS - 1 );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xDevA, xRecA.xKept ) == eShadowSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );

    /* The API called from a callback (the agent task) fails instead of deadlocking. */
    xRecA.xNest = pdTRUE;
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"color\":\"white\"}}}", pcThing ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &xRecA.iNested, 1, CB_WAIT ) == pdTRUE );
    TEST_CHECK( xRecA.xNestedGet == eShadowFailure );
    TEST_CHECK( xRecA.xNestedUpdate == eShadowFailure );
    TEST_CHECK( xRecA.xNestedRegister == eShadowFailure );
    TEST_CHECK( xRecA.xNestedDisconnect == eShadowFailure );
    TEST_CHECK( xRecA.xNestedCreate == eShadowFailure );

    if( xRecA.xNestedCreated != NULL )
    {
        SHADOW_ClientDelete( xRecA.xNestedCreated );
    }

    TEST_CHECK( prvOneMore( &xRecA.iDelta, &iDelta ) );
    TEST_CHECK( prvOneMore( &xRecA.iUpdated, &iUpdated ) );
    /* A is still connected and its callbacks intact. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"color\":\"white\"}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvOneMore( &xRecA.iUpdated, &iUpdated ) );

    /* Deleted: B deletes the shadow; A's deleted callback. */
    TEST_CHECK( prvDelete( xDevB, pcThing ) == eShadowSuccess );
    TEST_CHECK( prvOneMore( &xRecA.iDeleted, &iDeleted ) );
    TEST_CHECK( strcmp( xRecA.cDeletedThing, pcThing ) == 0 );
    /* A's own delete reaches its deleted callback too. */
    TEST_CHECK( prvUpdate( xDevA, pcThing, "{\"state\":{\"reported\":{\"color\":\"none\"}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvOneMore( &xRecA.iUpdated, &iUpdated ) );
    TEST_CHECK( prvDelete( xDevA, pcThing ) == eShadowSuccess );
    TEST_CHECK( prvOneMore( &xRecA.iDeleted, &iDeleted ) );

    /* Only a delta callback: the others are unsubscribed. */
    iUpdated = xRecA.iUpdated;
    iDelta = xRecA.iDelta;
    TEST_CHECK( prvRegister( xDevA, pcThing, NULL, NULL, prvDeltaCb ) == eShadowSuccess );
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"color\":\"pink\"}}}", pcThing ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecA.iDelta, iDelta + 1 ) );
    TEST_CHECK( xRecA.iUpdated == iUpdated );
    TEST_CHECK( prvDelete( xDevB, pcThing ) == eShadowSuccess );
    TEST_CHECK( prvStays( &xRecA.iDeleted ) );

    /* All NULL unregisters: nothing more arrives. */
    TEST_CHECK( prvRegister( xDevA, pcThing, NULL, NULL, NULL ) == eShadowSuccess );
    iDelta = xRecA.iDelta;
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"color\":\"gray\"}}}", pcThing ) == pdPASS );
    TEST_CHECK( prvStays( &xRecA.iDelta ) );
    TEST_CHECK( xRecA.iDelta == iDelta && xRecA.iUpdated == iUpdated );
    TEST_CHECK( prvDelete( xDevB, pcThing ) == eShadowSuccess );
    TEST_CHECK( prvStays( &xRecA.iDeleted ) );
    /* Unregistering what is not registered is harmless. */
    TEST_CHECK( prvRegister( xDevA, pcThing, NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( iBadUserData == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

/* A delta callback that takes its time (300 ticks). */
static volatile int iSlowInside, iSlowCalls;

static BaseType_t prvSlowDeltaCb( void * pvUserData, const char * pcThingName, const char * pcDoc,
                                  uint32_t ulLength, MQTTBufferHandle_t xBuffer )
{
    ( void ) pvUserData;
    ( void ) pcThingName;
    ( void ) pcDoc;
    ( void ) ulLength;
    ( void ) xBuffer;
    iSlowInside = 1;
    iSlowCalls++;
    vTaskDelay( 300 );
    iSlowInside = 0;
    return pdFALSE;
}

/* Once SHADOW_RegisterCallbacks has returned, the callbacks it replaced are
 * not running and never run again (the application may free what they use). */
static void prvNoCallbackAfterReRegistration( void )
{
    static const char * const pcThing = "t-slowcb";

    prvRecReset( &xRecA );
    iSlowInside = 0;
    iSlowCalls = 0;
    TEST_ASSERT( prvRegister( xDevA, pcThing, NULL, NULL, prvSlowDeltaCb ) == eShadowSuccess );
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"s\":1}}}", pcThing ) == pdPASS );
    TEST_ASSERT( xUtilWaitFor( &iSlowInside, 1, CB_WAIT ) == pdTRUE );

    /* Replaced while it runs: the topic stays subscribed, only the callback changes. */
    TEST_CHECK( prvRegister( xDevA, pcThing, NULL, NULL, prvDeltaCb ) == eShadowSuccess );
    TEST_CHECK_MSG( iSlowInside == 0, "the replaced callback was still running when the registration returned" );
    TEST_CHECK( iSlowCalls == 1 );

    /* The new one gets the next delta; the old one never runs again. */
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"s\":2}}}", pcThing ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecA.iDelta, 1 ) );
    TEST_CHECK( iSlowCalls == 1 );
    TEST_CHECK( prvRegister( xDevA, pcThing, NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( prvCtl( NULL, 0, "shadow-reset" ) == pdPASS );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvCallbackLimit( void )
{
    prvRecReset( &xRecA );
    TEST_ASSERT( shadowconfigMAX_THINGS_WITH_CALLBACKS == 2 );
    TEST_CHECK( prvRegister( xDevA, "t-l1", NULL, NULL, prvDeltaCb ) == eShadowSuccess );
    TEST_CHECK( prvRegister( xDevA, "t-l2", NULL, NULL, prvDeltaCb ) == eShadowSuccess );
    TEST_CHECK( prvRegister( xDevA, "t-l3", NULL, NULL, prvDeltaCb ) == eShadowFailure );
    /* A registered thing can still change its callbacks while the table is full. */
    TEST_CHECK( prvRegister( xDevA, "t-l1", prvUpdatedCb, NULL, prvDeltaCb ) == eShadowSuccess );
    /* Freeing one makes room. */
    TEST_CHECK( prvRegister( xDevA, "t-l1", NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( prvRegister( xDevA, "t-l3", NULL, NULL, prvDeltaCb ) == eShadowSuccess );

    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update t-l1 {\"state\":{\"desired\":{\"n\":1}}}" ) == pdPASS );
    TEST_CHECK( prvStays( &xRecA.iDelta ) );
    TEST_CHECK( xRecA.iUpdated == 0 );
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update t-l3 {\"state\":{\"desired\":{\"n\":3}}}" ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecA.iDelta, 1 ) );
    TEST_CHECK( strcmp( xRecA.cDeltaThing, "t-l3" ) == 0 );
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update t-l2 {\"state\":{\"desired\":{\"n\":2}}}" ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecA.iDelta, 2 ) );
    TEST_CHECK( strcmp( xRecA.cDeltaThing, "t-l2" ) == 0 );

    TEST_CHECK( prvRegister( xDevA, "t-l2", NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( prvRegister( xDevA, "t-l3", NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( prvCtl( NULL, 0, "shadow-reset" ) == pdPASS );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvCallbacksShared( void )
{
    static const char * const pcThing = "t-cb-b";

    prvRecReset( &xRecB );
    int iBase = prvFreeSlots( xAppS );
    TEST_CHECK( prvRegister( xDevB, pcThing, prvUpdatedCb, NULL, prvDeltaCb ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase - 2 );
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"mode\":\"eco\"}}}", pcThing ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecB.iDelta, 1 ) );
    TEST_CHECK( prvExactly( &xRecB.iUpdated, 1 ) );
    TEST_CHECK( strcmp( xRecB.cDeltaThing, pcThing ) == 0 );
    TEST_CHECK( strstr( xRecB.cDelta, "\"mode\":\"eco\"" ) != NULL );

    /* The application's own use of S goes on beside it: a subscription without
     * a callback sends its publishes to the application's connect callback. */
    TEST_ASSERT( xUtilSubscribe( xAppS, "app/plain", eMQTTQoS1, NULL, NULL ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xAppS, "app/plain", eMQTTQoS1, "mine", 4, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( prvExactly( &xRecB.iAppPublish, 1 ) );
    MQTTAgentUnsubscribeParams_t xUnsub = { ( const uint8_t * ) "app/plain", 9 };
    TEST_CHECK( MQTT_AGENT_Unsubscribe( xAppS, &xUnsub, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xRecB.iDelta == 1 );

    TEST_CHECK( prvRegister( xDevB, pcThing, NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == iBase );
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"mode\":\"max\"}}}", pcThing ) == pdPASS );
    TEST_CHECK( prvStays( &xRecB.iDelta ) );
    TEST_CHECK( xRecB.iDelta == 1 && xRecB.iUpdated == 1 );
    TEST_CHECK( iBadUserData == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

/* Two shadow clients on one MQTT client (S): B with callbacks for a thing,
 * B2 working on the same thing. Each keeps its own subscriptions, which here
 * share topic filters on S. */
static void prvTwoShadowClientsOneMqttClient( void )
{
    static const char * const pcThing = "t-pair";
    ShadowCreateParams_t xShared = { eSharedMQTTClient, xAppS };
    ShadowClientHandle_t xB2 = NULL;

    prvRecReset( &xRecB );
    TEST_ASSERT( SHADOW_ClientCreate( &xB2, &xShared ) == eShadowSuccess );
    TEST_ASSERT( prvRegister( xDevB, pcThing, NULL, prvDeletedCb, prvDeltaCb ) == eShadowSuccess );

    /* B2 (S is connected already) changes desired: B hears the delta. */
    TEST_CHECK( prvUpdate( xB2, pcThing, "{\"state\":{\"desired\":{\"p\":1}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvExactly( &xRecB.iDelta, 1 ) );

    /* B2 deletes the shadow: its Delete uses delete/accepted, B's deleted
     * callback's topic too. S's agent table holds one callback per filter, so
     * shadow clients on one MQTT client share it: B2's unsubscribe afterwards
     * must not remove the filter B still needs. */
    TEST_CHECK( prvDelete( xB2, pcThing ) == eShadowSuccess );
    TEST_CHECK_MSG( prvExactly( &xRecB.iDeleted, 1 ), "B's deleted callback: %d calls", xRecB.iDeleted );
    TEST_CHECK( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"p\":2}}}", pcThing ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecB.iDelta, 2 ) );
    TEST_CHECK( prvCtl( NULL, 0, "shadow-delete %s", pcThing ) == pdPASS );
    TEST_CHECK_MSG( prvExactly( &xRecB.iDeleted, 2 ), "B's deleted callback: %d calls", xRecB.iDeleted );

    /* Deleting B2 leaves B's registrations working. */
    TEST_CHECK( SHADOW_ClientDelete( xB2 ) == eShadowSuccess );
    int iDelta = xRecB.iDelta;
    TEST_CHECK( prvCtl( NULL, 0, "shadow-update %s {\"state\":{\"desired\":{\"p\":3}}}", pcThing ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecB.iDelta, iDelta + 1 ) );

    TEST_CHECK( prvRegister( xDevB, pcThing, NULL, NULL, NULL ) == eShadowSuccess );
    /* Put S's table back as the later cases expect it (whatever leaked above). */
    static const char * const pcTopics[] = { "$aws/things/t-pair/shadow/delete/accepted",
                                             "$aws/things/t-pair/shadow/update/delta" };

    for( size_t i = 0; i < 2; i++ )
    {
        MQTTAgentUnsubscribeParams_t x = { ( const uint8_t * ) pcTopics[ i ], ( uint16_t ) strlen( pcTopics[ i ] ) };
        ( void ) MQTT_AGENT_Unsubscribe( xAppS, &x, T_TIMEOUT );
    }

    TEST_ASSERT( prvFreeSlots( xAppS ) == MAX_SUBS );
    TEST_CHECK( prvCtl( NULL, 0, "shadow-reset" ) == pdPASS );
    TEST_CHECK( iBadUserData == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

typedef struct
{
    ShadowClientHandle_t xClient;
    const char * pcThing;
    char cTag;
    int iRounds;
    volatile int iOk;
    volatile ShadowReturnCode_t xFirstError;
    volatile int * piDone;
} Worker_t;

static void prvWorkerTask( void * pv )
{
    Worker_t * w = ( Worker_t * ) pv;
    char cDoc[ 96 ];

    for( int i = 0; i < w->iRounds; i++ )
    {
        snprintf( cDoc, sizeof( cDoc ), "{\"state\":{\"reported\":{\"w%c\":%d}}}", w->cTag, i );
        ShadowReturnCode_t r = prvUpdate( w->xClient, w->pcThing, cDoc, ( uint8_t ) ( i % 2 ), ( MQTTQoS_t ) ( i % 2 ), T_TIMEOUT );

        if( r == eShadowSuccess )
        {
            w->iOk++;
        }
        else if( w->xFirstError == eShadowSuccess )
        {
            w->xFirstError = r;
        }
    }

    ( *w->piDone )++;
    vTaskDelete( NULL );
}

static void prvTwoDevices( void )
{
    ShadowCreateParams_t xDedicated = { eDedicatedMQTTClient, NULL };

    /* C: a second device, dedicated, through the relay. */
    prvRecReset( &xRecA );
    prvRecReset( &xRecC );
    TEST_ASSERT( SHADOW_ClientCreate( &xDevC, &xDedicated ) == eShadowSuccess );
    xRecC.xHandle = xDevC;
    xConnC = prvConnectParams( usTestRelayPort(), "shd-dev-c", &xRecC );
    TEST_ASSERT( SHADOW_ClientConnect( xDevC, &xConnC, T_TIMEOUT ) == eShadowSuccess );

    TEST_ASSERT( prvRegister( xDevA, "dev-1", NULL, prvDeletedCb, prvDeltaCb ) == eShadowSuccess );
    TEST_ASSERT( prvRegister( xDevC, "dev-2", NULL, prvDeletedCb, prvDeltaCb ) == eShadowSuccess );

    /* Each device hears only about its own thing. */
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update dev-1 {\"state\":{\"desired\":{\"fan\":1}}}" ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecA.iDelta, 1 ) );
    TEST_CHECK( xRecC.iDelta == 0 );
    TEST_CHECK( strcmp( xRecA.cDeltaThing, "dev-1" ) == 0 );
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update dev-2 {\"state\":{\"desired\":{\"fan\":2}}}" ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecC.iDelta, 1 ) );
    TEST_CHECK( xRecA.iDelta == 1 );
    TEST_CHECK( strcmp( xRecC.cDeltaThing, "dev-2" ) == 0 );
    /* B, the controller, changes dev-2. */
    TEST_CHECK( prvUpdate( xDevB, "dev-2", "{\"state\":{\"desired\":{\"fan\":3}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvExactly( &xRecC.iDelta, 2 ) );
    TEST_CHECK( strstr( xRecC.cDelta, "\"fan\":3" ) != NULL );
    TEST_CHECK( xRecA.iDelta == 1 );

    /* Three clients update one thing at once, and a fourth task shares A:
     * every client sees the others' responses on update/accepted and must
     * match only its own clientToken. */
    static volatile int iDone;
    static Worker_t xW[ 4 ];
    iDone = 0;
    const ShadowClientHandle_t xClients[ 4 ] = { xDevA, xDevB, xDevC, xDevA };
    const char * const pcThings[ 4 ] = { "dev-shared", "dev-shared", "dev-shared", "dev-other" };

    for( int i = 0; i < 4; i++ )
    {
        memset( &xW[ i ], 0, sizeof( xW[ i ] ) );
        xW[ i ].xClient = xClients[ i ];
        xW[ i ].pcThing = pcThings[ i ];
        xW[ i ].cTag = ( char ) ( 'a' + i );
        xW[ i ].iRounds = 15;
        xW[ i ].piDone = &iDone;
        TEST_ASSERT( xTaskCreate( prvWorkerTask, "upd", configMINIMAL_STACK_SIZE * 2, &xW[ i ],
                                  tskIDLE_PRIORITY + 1, NULL ) == pdPASS );
    }

    TEST_ASSERT( xUtilWaitFor( &iDone, 4, 60000 ) == pdTRUE );

    for( int i = 0; i < 4; i++ )
    {
        TEST_CHECK_MSG( xW[ i ].iOk == xW[ i ].iRounds, "worker %d: %d of %d, first error %d", i, xW[ i ].iOk,
                        xW[ i ].iRounds, ( int ) xW[ i ].xFirstError );
    }

    char cDoc[ 2048 ];
    TEST_CHECK( prvGet( xDevC, "dev-shared", cDoc, sizeof( cDoc ), NULL ) == eShadowSuccess );
    TEST_CHECK_MSG( strstr( cDoc, "\"wa\":14" ) && strstr( cDoc, "\"wb\":14" ) && strstr( cDoc, "\"wc\":14" ), "%s", cDoc );
    TEST_CHECK_MSG( prvVersion( cDoc ) == 45, "%s", cDoc );

    /* Deletes reach the right device only. */
    TEST_CHECK( prvDelete( xDevB, "dev-1" ) == eShadowSuccess );
    TEST_CHECK( prvExactly( &xRecA.iDeleted, 1 ) );
    TEST_CHECK( xRecC.iDeleted == 0 );
    TEST_CHECK( strcmp( xRecA.cDeletedThing, "dev-1" ) == 0 );

    TEST_CHECK( prvRegister( xDevA, "dev-1", NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( prvRegister( xDevC, "dev-2", NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( prvCtl( NULL, 0, "shadow-reset" ) == pdPASS );
    TEST_CHECK( iBadUserData == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

typedef struct
{
    const char * pcThing;
    uint8_t ucKeep;
    MQTTQoS_t xQoS;
    TickType_t xTimeout;
    volatile ShadowReturnCode_t xResult;
    volatile int iDone;
} Holder_t;

/* An update on B that waits through the frozen relay, holding B's operation
 * lock meanwhile. */
static void prvHolderTask( void * pv )
{
    Holder_t * h = ( Holder_t * ) pv;

    h->xResult = prvUpdate( xDevB, h->pcThing, "{\"state\":{\"reported\":{\"held\":1}}}", h->ucKeep, h->xQoS, h->xTimeout );
    h->iDone = 1;
    vTaskDelete( NULL );
}

static void prvTimeout( void )
{
    static const char * const pcThing = "t-timeout";
    static const char cDoc[] = "{\"state\":{\"reported\":{\"t\":1}}}";
    TickType_t xStart, xTook;

    int iBase = prvFreeSlots( xAppS );
    /* Response subscriptions in place (update and get), so that only the answer is missing. */
    TEST_ASSERT( prvUpdate( xDevB, pcThing, cDoc, 1, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    ShadowOperationParams_t xKeptGet = { pcThing, NULL, 0, NULL, 1, eMQTTQoS0 };
    TEST_ASSERT( SHADOW_Get( xDevB, &xKeptGet, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xDevB, xKeptGet.xBuffer ) == eShadowSuccess );
    TEST_ASSERT( prvCtl( NULL, 0, "relay-freeze" ) == pdPASS );

    /* (a) The request leaves (QoS 0), the answer never comes: eShadowTimeout on time. */
    xStart = xTaskGetTickCount();
    TEST_CHECK( prvUpdate( xDevB, pcThing, cDoc, 1, eMQTTQoS0, 500 ) == eShadowTimeout );
    xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xTook >= 500 && xTook < 700, "timed out after %lu ticks", ( unsigned long ) xTook );

    /* (b) Not even the response subscription completes (another thing: no kept subscriptions). */
    ShadowOperationParams_t xGet = { "t-timeout-2", NULL, 0, NULL, 0, eMQTTQoS1 };
    xStart = xTaskGetTickCount();
    TEST_CHECK( SHADOW_Get( xDevB, &xGet, 400 ) == eShadowTimeout );
    xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xTook >= 400 && xTook < 600, "timed out after %lu ticks", ( unsigned long ) xTook );
    TEST_CHECK( xGet.xBuffer == NULL );

    /* (c) Another task's operation holds the client: the caller's own timeout applies. */
    static Holder_t xHolder;
    memset( &xHolder, 0, sizeof( xHolder ) );
    xHolder.pcThing = pcThing;
    xHolder.ucKeep = 1;
    xHolder.xQoS = eMQTTQoS0;
    xHolder.xTimeout = 1500;
    TEST_ASSERT( xTaskCreate( prvHolderTask, "hold", configMINIMAL_STACK_SIZE * 2, &xHolder,
                              tskIDLE_PRIORITY + 1, NULL ) == pdPASS );
    vTaskDelay( 100 );
    xGet.xBuffer = NULL;
    xStart = xTaskGetTickCount();
    TEST_CHECK( SHADOW_Get( xDevB, &xGet, 300 ) == eShadowTimeout );
    xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xTook >= 300 && xTook < 450, "timed out after %lu ticks", ( unsigned long ) xTook );
    TEST_CHECK( xUtilWaitFor( &xHolder.iDone, 1, 3000 ) == pdTRUE );
    TEST_CHECK( xHolder.xResult == eShadowTimeout );

    /* (d) A Get whose document will come late (kept subscriptions, QoS 0). */
    xKeptGet.xBuffer = NULL;
    xStart = xTaskGetTickCount();
    TEST_CHECK( SHADOW_Get( xDevB, &xKeptGet, 300 ) == eShadowTimeout );
    xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xTook >= 300 && xTook < 450, "timed out after %lu ticks", ( unsigned long ) xTook );
    TEST_CHECK( xKeptGet.xBuffer == NULL );

    /* (e) A zero timeout: eShadowTimeout at once. */
    xStart = xTaskGetTickCount();
    TEST_CHECK( prvUpdate( xDevB, pcThing, cDoc, 1, eMQTTQoS0, 0 ) == eShadowTimeout );
    TEST_CHECK( xTaskGetTickCount() - xStart < 50 );

    /* (f) keep=0 after a timeout: the cleanup (unsubscribing) may add at most
     * shadowconfigCLEANUP_TIME_MS to the caller's timeout, as AFR v1 documents
     * ("may block for up to (x + shadowCLEANUP_TIME_MS)"). */
    xStart = xTaskGetTickCount();
    TEST_CHECK( prvUpdate( xDevB, pcThing, cDoc, 0, eMQTTQoS0, 300 ) == eShadowTimeout );
    xTook = xTaskGetTickCount() - xStart;
    vTestNote( "timeout 300 with keep=0, relay frozen: returned after %lu ticks", ( unsigned long ) xTook );
    TEST_CHECK_MSG( xTook >= 300 && xTook <= 300 + pdMS_TO_TICKS( shadowconfigCLEANUP_TIME_MS ) + 100,
                    "returned after %lu ticks", ( unsigned long ) xTook );

    /* (g) While the unsubscribes of (f) are still held by the relay, the next
     * update subscribes to the same response topics again. After the thaw
     * the late UNSUBACKs must not undo the new subscription. */
    int iAppPublish = xRecB.iAppPublish;
    memset( &xHolder, 0, sizeof( xHolder ) );
    xHolder.pcThing = pcThing;
    xHolder.ucKeep = 0;
    xHolder.xQoS = eMQTTQoS1;
    xHolder.xTimeout = 3000;
    TEST_ASSERT( xTaskCreate( prvHolderTask, "hold", configMINIMAL_STACK_SIZE * 2, &xHolder,
                              tskIDLE_PRIORITY + 1, NULL ) == pdPASS );
    vTaskDelay( 200 );

    /* Late answers after the thaw reach nobody; their buffers come back. */
    TEST_ASSERT( prvCtl( NULL, 0, "relay-thaw" ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &xHolder.iDone, 1, 9000 ) == pdTRUE );
    vTestNote( "update re-subscribing behind held unsubscribes: %d; publishes that reached the "
               "application's connect callback instead: %d", ( int ) xHolder.xResult, xRecB.iAppPublish - iAppPublish );
    TEST_CHECK( xHolder.xResult == eShadowSuccess );
    TEST_CHECK( xRecB.iAppPublish == iAppPublish ); /* No answer strayed to the connect callback. */
    vTaskDelay( 300 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );

    /* Later operations work. */
    xKeptGet.ucKeepSubscriptions = 0;
    xKeptGet.xBuffer = NULL;
    TEST_CHECK( SHADOW_Get( xDevB, &xKeptGet, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xDevB, xKeptGet.xBuffer ) == eShadowSuccess );
    char cRead[ 1024 ];
    TEST_CHECK( prvGet( xDevB, pcThing, cRead, sizeof( cRead ), NULL ) == eShadowSuccess );
    TEST_CHECK( strstr( cRead, "\"held\":1" ) != NULL ); /* The held update got through late. */
    TEST_CHECK( prvDelete( xDevB, pcThing ) == eShadowSuccess );

    /* Nothing of the timed-out operations stays subscribed: the SUBSCRIBE of
     * (b) timed out for the caller, so the shadow client withdraws it, and no
     * entry of S's table (mqttconfigSUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS) is lost. */
    int iFree = prvFreeSlots( xAppS );
    TEST_CHECK_MSG( iFree == iBase, "%d free subscription entries, %d before", iFree, iBase );

    /* Make sure the cases that follow count from a clean table even if this failed. */
    static const char cLeaked[] = "$aws/things/t-timeout-2/shadow/get/accepted";
    MQTTAgentUnsubscribeParams_t xUnsub = { ( const uint8_t * ) cLeaked, sizeof( cLeaked ) - 1 };
    ( void ) MQTT_AGENT_Unsubscribe( xAppS, &xUnsub, T_TIMEOUT );
    TEST_ASSERT( prvFreeSlots( xAppS ) == iBase );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvReconnect( void )
{
    prvRecReset( &xRecB );
    prvRecReset( &xRecC );
    TEST_ASSERT( prvRegister( xDevB, "t-re-b", NULL, NULL, prvDeltaCb ) == eShadowSuccess );
    TEST_ASSERT( prvRegister( xDevC, "t-re-c", prvUpdatedCb, NULL, prvDeltaCb ) == eShadowSuccess );
    /* A kept response subscription, which a new (clean) session forgets. */
    TEST_ASSERT( prvUpdate( xDevB, "t-re-b", "{\"state\":{\"reported\":{\"r\":0}}}", 1, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == MAX_SUBS - 3 );
    TEST_ASSERT( prvRegister( xDevC, "t-re-c2", NULL, NULL, prvDeltaCb ) == eShadowSuccess );

    /* An update is waiting for its answer (held by the frozen relay) when both
     * relayed connections are reset: the applications' callbacks hear it, and
     * the update ends within its timeout. */
    static Holder_t xHolder;
    memset( &xHolder, 0, sizeof( xHolder ) );
    xHolder.pcThing = "t-re-b"; /* Its update responses are kept: only the answer is awaited. */
    xHolder.ucKeep = 1;
    xHolder.xQoS = eMQTTQoS0;
    xHolder.xTimeout = 2000;
    TEST_ASSERT( prvCtl( NULL, 0, "relay-freeze" ) == pdPASS );
    TickType_t xHeldSince = xTaskGetTickCount();
    TEST_ASSERT( xTaskCreate( prvHolderTask, "hold", configMINIMAL_STACK_SIZE * 2, &xHolder,
                              tskIDLE_PRIORITY + 1, NULL ) == pdPASS );
    vTaskDelay( 200 );
    TEST_ASSERT( prvCtl( NULL, 0, "relay-reset" ) == pdPASS );
    TEST_ASSERT( prvCtl( NULL, 0, "relay-thaw" ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &xRecB.iAppDisconnect, 1, 5000 ) == pdTRUE );
    TEST_CHECK( xUtilWaitFor( &xRecC.iAppDisconnect, 1, 5000 ) == pdTRUE );
    TEST_CHECK( xRecA.iAppDisconnect == 0 );
    TEST_CHECK( xUtilWaitFor( &xHolder.iDone, 1, 4000 ) == pdTRUE );
    vTestNote( "update in flight at the reset: %d after %lu ticks", ( int ) xHolder.xResult,
               ( unsigned long ) ( xTaskGetTickCount() - xHeldSince ) );
    TEST_CHECK( xHolder.xResult == eShadowTimeout || xHolder.xResult == eShadowFailure );

    /* Unregistering while disconnected works; that thing is not subscribed again. */
    TEST_CHECK( prvRegister( xDevC, "t-re-c2", NULL, NULL, NULL ) == eShadowSuccess );

    /* Not connected: operations fail promptly. */
    TickType_t xStart = xTaskGetTickCount();
    TEST_CHECK( prvUpdate( xDevB, "t-re-b", "{\"state\":{\"reported\":{\"r\":1}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowFailure );
    TEST_CHECK( prvGet( xDevC, "t-re-c", NULL, 0, NULL ) == eShadowFailure );
    TEST_CHECK( xTaskGetTickCount() - xStart < 1000 );

    /* Reconnect through the shadow API: registered callbacks come back. */
    TEST_ASSERT( SHADOW_ClientConnect( xDevB, &xConnB, T_TIMEOUT ) == eShadowSuccess );
    TEST_ASSERT( SHADOW_ClientConnect( xDevC, &xConnC, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == MAX_SUBS - 1 );

    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update t-re-b {\"state\":{\"desired\":{\"r\":5}}}" ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecB.iDelta, 1 ) );
    TEST_CHECK( strstr( xRecB.cDelta, "\"r\":5" ) != NULL );
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update t-re-c {\"state\":{\"desired\":{\"r\":6}}}" ) == pdPASS );
    TEST_CHECK( prvExactly( &xRecC.iDelta, 1 ) );
    TEST_CHECK( prvExactly( &xRecC.iUpdated, 1 ) );
    TEST_CHECK( strcmp( xRecC.cDeltaThing, "t-re-c" ) == 0 );
    TEST_ASSERT( prvCtl( NULL, 0, "shadow-update t-re-c2 {\"state\":{\"desired\":{\"r\":7}}}" ) == pdPASS );
    TEST_CHECK( prvStays( &xRecC.iDelta ) );

    /* Operations work again, with and without kept subscriptions. */
    TEST_CHECK( prvUpdate( xDevB, "t-re-b", "{\"state\":{\"reported\":{\"r\":5}}}", 1, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvUpdate( xDevB, "t-re-b", "{\"state\":{\"reported\":{\"r\":5}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvUpdate( xDevC, "t-re-c", "{\"state\":{\"reported\":{\"r\":6}}}", 0, eMQTTQoS1, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvExactly( &xRecC.iUpdated, 2 ) );
    TEST_CHECK( xRecB.iDelta == 1 && xRecC.iDelta == 1 );

    TEST_CHECK( prvRegister( xDevB, "t-re-b", NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( prvRegister( xDevC, "t-re-c", NULL, NULL, NULL ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == MAX_SUBS );
    TEST_CHECK( prvCtl( NULL, 0, "shadow-reset" ) == pdPASS );
    TEST_CHECK( iBadUserData == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvBadInput( void )
{
    static const char cDoc[] = "{\"state\":{\"reported\":{\"x\":1}}}";
    ShadowOperationParams_t xOp = { "t-bad", cDoc, sizeof( cDoc ) - 1, NULL, 0, eMQTTQoS1 };
    ShadowCallbackParams_t xCb = { "t-bad", NULL, NULL, prvDeltaCb };
    ShadowClientHandle_t xForeign = ( ShadowClientHandle_t ) ( uintptr_t ) 0x7fff00ffUL;
    MQTTAgentConnectParams_t xConn = xConnA;
    uint8_t ucForeignBuffer[ 8 ];
    TickType_t xStart = xTaskGetTickCount();

    /* NULL or unknown handles. */
    const ShadowClientHandle_t xBadHandles[] = { NULL, xForeign, ( ShadowClientHandle_t ) &xRecA };

    for( size_t i = 0; i < sizeof( xBadHandles ) / sizeof( xBadHandles[ 0 ] ); i++ )
    {
        ShadowClientHandle_t h = xBadHandles[ i ];
        TEST_CHECK( SHADOW_Update( h, &xOp, 10 ) == eShadowFailure );
        TEST_CHECK( SHADOW_Get( h, &xOp, 10 ) == eShadowFailure );
        TEST_CHECK( SHADOW_Delete( h, &xOp, 10 ) == eShadowFailure );
        TEST_CHECK( SHADOW_RegisterCallbacks( h, &xCb, 10 ) == eShadowFailure );
        TEST_CHECK( SHADOW_ClientConnect( h, &xConn, 10 ) == eShadowFailure );
        TEST_CHECK( SHADOW_ClientDisconnect( h ) == eShadowFailure );
        TEST_CHECK( SHADOW_ClientDelete( h ) == eShadowFailure );
        TEST_CHECK( SHADOW_ReturnMQTTBuffer( h, ucForeignBuffer ) == eShadowFailure );
    }

    /* NULL parameters. */
    TEST_CHECK( SHADOW_Update( xDevA, NULL, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_Get( xDevA, NULL, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_Delete( xDevA, NULL, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_RegisterCallbacks( xDevA, NULL, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xDevA, NULL ) == eShadowFailure );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xDevA, ucForeignBuffer ) == eShadowFailure );

    /* Thing names: NULL, empty, MQTT separators and wildcards, AWS-invalid, too long. */
    char cLong[ 130 ];
    memset( cLong, 'n', 129 );
    cLong[ 129 ] = '\0';
    const char * const pcBadNames[] = { NULL, "", "a/b", "a+", "#", "a#", "a b", "caf\xc3\xa9", cLong };

    for( size_t i = 0; i < sizeof( pcBadNames ) / sizeof( pcBadNames[ 0 ] ); i++ )
    {
        xOp.pcThingName = pcBadNames[ i ];
        xCb.pcThingName = pcBadNames[ i ];
        TEST_CHECK_MSG( SHADOW_Update( xDevA, &xOp, 10 ) == eShadowFailure, "name %zu", i );
        TEST_CHECK_MSG( SHADOW_Get( xDevA, &xOp, 10 ) == eShadowFailure, "name %zu", i );
        TEST_CHECK_MSG( SHADOW_Delete( xDevA, &xOp, 10 ) == eShadowFailure, "name %zu", i );
        TEST_CHECK_MSG( SHADOW_RegisterCallbacks( xDevA, &xCb, 10 ) == eShadowFailure, "name %zu", i );
    }

    xOp.pcThingName = "t-bad";

    /* QoS 2 (AWS IoT has none) and an out-of-range value. */
    xOp.xQoS = eMQTTQoS2;
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_Get( xDevA, &xOp, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_Delete( xDevA, &xOp, 10 ) == eShadowFailure );
    *( volatile uint32_t * ) &xOp.xQoS = 7;
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, 10 ) == eShadowFailure );
    xOp.xQoS = eMQTTQoS1;

    /* Update without a document. */
    xOp.pcData = NULL;
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, 10 ) == eShadowFailure );
    xOp.pcData = cDoc;
    xOp.ulDataLength = 0;
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, 10 ) == eShadowFailure );
    xOp.ulDataLength = sizeof( cDoc ) - 1;
    TickType_t xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xTook < 200, "refusals took %lu ticks", ( unsigned long ) xTook );

    /* Every character AWS allows in a thing name. */
    xOp.pcThingName = "Th:ng_09-z";
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvDelete( xDevA, "Th:ng_09-z" ) == eShadowSuccess );

    /* A long name whose topics fit the agent's 128-character filters works. */
    char cName[ 91 ];
    memset( cName, 'N', 90 );
    cName[ 90 ] = '\0';
    xOp.pcThingName = cName;
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvDelete( xDevA, cName ) == eShadowSuccess );

    /* AWS allows 128 characters, but its response topics exceed
     * mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH (128): refused, not hung. */
    cLong[ 128 ] = '\0';
    xOp.pcThingName = cLong;
    xStart = xTaskGetTickCount();
    ShadowReturnCode_t r = SHADOW_Update( xDevA, &xOp, T_TIMEOUT );
    TEST_CHECK_MSG( r == eShadowFailure, "128-character name: %d", ( int ) r );
    TEST_CHECK( xTaskGetTickCount() - xStart < 1000 );

    /* The client still works. */
    xOp.pcThingName = "t-bad";
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvDelete( xDevA, "t-bad" ) == eShadowSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvDisconnectAndDelete( void )
{
    static const char cDoc[] = "{\"state\":{\"reported\":{\"bye\":1}}}";
    ShadowOperationParams_t xOp = { "t-bye", cDoc, sizeof( cDoc ) - 1, NULL, 0, eMQTTQoS1 };
    ShadowCallbackParams_t xCb = { "t-bye", NULL, NULL, prvDeltaCb };

    /* Disconnect A (asked for: no disconnect event), then it refuses operations. */
    TEST_CHECK( SHADOW_ClientDisconnect( xDevA ) == eShadowSuccess );
    vTaskDelay( 100 );
    TEST_CHECK( xRecA.iAppDisconnect == 0 );
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientDisconnect( xDevA ) == eShadowFailure );
    /* The same handle connects again. */
    TEST_ASSERT( SHADOW_ClientConnect( xDevA, &xConnA, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( SHADOW_Update( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( SHADOW_Delete( xDevA, &xOp, T_TIMEOUT ) == eShadowSuccess );

    /* Delete A without disconnecting: its MQTT client goes with it. */
    ShadowClientHandle_t xStale = xDevA;
    TEST_CHECK( SHADOW_ClientDelete( xDevA ) == eShadowSuccess );
    xDevA = NULL;
    TEST_CHECK( SHADOW_Update( xStale, &xOp, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_Get( xStale, &xOp, 10 ) == eShadowFailure );
    /* A failed Get leaves no document behind, as AFR's did. */
    TEST_CHECK( xOp.pcData == NULL && xOp.ulDataLength == 0 && xOp.xBuffer == NULL );
    xOp.pcData = cDoc;
    xOp.ulDataLength = sizeof( cDoc ) - 1;
    TEST_CHECK( SHADOW_Delete( xStale, &xOp, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_RegisterCallbacks( xStale, &xCb, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientConnect( xStale, &xConnA, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientDisconnect( xStale ) == eShadowFailure );
    TEST_CHECK( SHADOW_ReturnMQTTBuffer( xStale, ( MQTTBufferHandle_t ) cDoc ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientDelete( xStale ) == eShadowFailure ); /* Twice. */

    /* A new client takes the freed slot; the old handle stays stale. */
    ShadowCreateParams_t xDedicated = { eDedicatedMQTTClient, NULL };
    ShadowClientHandle_t xNew = NULL;
    TEST_ASSERT( SHADOW_ClientCreate( &xNew, &xDedicated ) == eShadowSuccess );
    TEST_CHECK( xNew != xStale );
    TEST_CHECK( SHADOW_ClientDelete( xStale ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientConnect( xNew, &xConnA, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( SHADOW_Update( xNew, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( SHADOW_ClientDelete( xNew ) == eShadowSuccess );

    /* B (shared): its registrations and kept subscriptions are removed from S;
     * S stays the application's, connected. */
    TEST_CHECK( prvRegister( xDevB, "t-bye", prvUpdatedCb, prvDeletedCb, prvDeltaCb ) == eShadowSuccess );
    xOp.ucKeepSubscriptions = 1;
    TEST_CHECK( SHADOW_Update( xDevB, &xOp, T_TIMEOUT ) == eShadowSuccess );
    TEST_CHECK( prvFreeSlots( xAppS ) == MAX_SUBS - 5 );
    TEST_CHECK( SHADOW_ClientDelete( xDevB ) == eShadowSuccess );
    TEST_CHECK( SHADOW_Update( xDevB, &xOp, 10 ) == eShadowFailure );
    TEST_CHECK( SHADOW_ClientDelete( xDevB ) == eShadowFailure );
    xDevB = NULL;
    TEST_CHECK( prvFreeSlots( xAppS ) == MAX_SUBS );
    TEST_CHECK( xUtilPublish( xAppS, "app/after", eMQTTQoS1, "still", 5, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xAppS, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xAppS ) == eMQTTAgentSuccess );
    xAppS = NULL;

    /* C: disconnect, then delete. */
    TEST_CHECK( SHADOW_ClientDisconnect( xDevC ) == eShadowSuccess );
    TEST_CHECK( SHADOW_ClientDelete( xDevC ) == eShadowSuccess );
    TEST_CHECK( SHADOW_ClientDelete( xDevC ) == eShadowFailure );
    xDevC = NULL;

    /* Every client slot and MQTT client is free again. */
    ShadowClientHandle_t xAll[ shadowconfigMAX_CLIENTS ];

    for( int i = 0; i < shadowconfigMAX_CLIENTS; i++ )
    {
        TEST_CHECK( SHADOW_ClientCreate( &xAll[ i ], &xDedicated ) == eShadowSuccess );
    }

    for( int i = 0; i < shadowconfigMAX_CLIENTS; i++ )
    {
        TEST_CHECK( SHADOW_ClientDelete( xAll[ i ] ) == eShadowSuccess );
    }

    TEST_CHECK( prvCtl( NULL, 0, "shadow-reset" ) == pdPASS );
    TEST_CHECK( iBadUserData == 0 );
    vTaskDelay( 200 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvBody( void )
{
    vTestRun( "create_bad_arguments", prvCreateBadArguments );
    vTestRun( "create_and_connect", prvCreateAndConnect );
    vTestRun( "client_limit", prvClientLimit );
    vTestRun( "not_connected", prvNotConnected );
    vTestRun( "operations_dedicated", prvOperationsDedicated );
    vTestRun( "operations_shared", prvOperationsShared );
    vTestRun( "client_tokens", prvClientTokens );
    vTestRun( "rejections_400_409", prvRejections );
    vTestRun( "large_documents_413", prvLargeDocuments );
    vTestRun( "keep_subscriptions", prvKeepSubscriptions );
    vTestRun( "callbacks", prvCallbacks );
    vTestRun( "callback_limit", prvCallbackLimit );
    vTestRun( "no_callback_after_re_registration", prvNoCallbackAfterReRegistration );
    vTestRun( "callbacks_shared", prvCallbacksShared );
    vTestRun( "two_shadow_clients_one_mqtt_client", prvTwoShadowClientsOneMqttClient );
    vTestRun( "two_devices", prvTwoDevices );
    vTestRun( "timeout", prvTimeout );
    vTestRun( "reconnect", prvReconnect );
    vTestRun( "bad_input", prvBadInput );
    vTestRun( "disconnect_and_delete", prvDisconnectAndDelete );
}

int main( void )
{
    BUFFERPOOL_Init();

    if( MQTT_AGENT_Init() != pdPASS )
    {
        printf( "MQTT_AGENT_Init failed\n" );
        return 1;
    }

    vTestMain( prvBody, 240000 );
}
