/*
 * The MQTT agent when the connection goes away, under the FreeRTOS POSIX
 * simulator: the broker stopped or killed mid-session (also while tasks
 * publish in a loop), a session taken over by the same client id, a relayed
 * connection reset while callers wait for their acknowledgements (and a
 * requested disconnect in that state), malformed packets and an early close
 * from the harness's fake server, a publish cut off mid-packet and an inbound
 * QoS 2 flow cut before its PUBREL (from a small server in this program), and
 * CONNACKs that never come, refuse, or whose connection closes. Each time: the connect callback hears eMQTTAgentDisconnect exactly
 * once for a lost connection (never for a connect attempt that fails before
 * its CONNACK), blocked callers return eMQTTAgentFailure promptly, the buffer
 * pool is full again and the same handle connects again.
 *
 * Keep-alive (a missing PINGRESP) is not tested here: this configuration pings
 * every 30000 ticks; test_agent_config covers it with a short interval.
 *
 * Run by tests/tools/run_with_broker.py --relay --fake.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "aws_mqtt_agent.h"
#include "aws_mqtt_agent_config.h"
#include "aws_mqtt_agent_config_defaults.h"

#include "agent_util.h"
#include "test_support.h"

#define NUM_BUFFERS          ( bufferpoolconfigNUM_BUFFERS )

/* How long a lost connection may take to be noticed and reported, counted from
 * the moment the harness confirms the loss (the agent task wakes on socket
 * data/EOF, or polls every mqttconfigMQTT_TASK_MAX_BLOCK_TICKS). */
#define LOSS_BOUND           ( ( TickType_t ) 1000 )

/* How long a caller blocked on a lost connection may take to return. */
#define PROMPT_BOUND         ( ( TickType_t ) 500 )

/* The long timeout of operations that must fail well before it. */
#define LONG_TIMEOUT         ( ( TickType_t ) 20000 )

/*-------------------------------- connect callback ---------------------------------*/

/* What the connect callback of one client saw. */
typedef struct
{
    volatile int iDisconnects;
    volatile int iPublishes;
    volatile TickType_t xLastDisconnectAt;
    /* When set, the disconnect event calls the API with this handle... */
    MQTTAgentHandle_t xNestHandle;
    /* ...and this is what Publish and Connect answered there. */
    volatile MQTTAgentReturnCode_t xNestedPublish;
    volatile MQTTAgentReturnCode_t xNestedConnect;
} Events_t;

static BaseType_t prvConnectCallback( void * pvUserData,
                                      const MQTTAgentCallbackParams_t * const pxParams )
{
    Events_t * pxEv = ( Events_t * ) pvUserData;

    TEST_CHECK( pxEv != NULL );

    if( pxEv == NULL )
    {
        return pdFALSE;
    }

    if( pxParams->xMQTTEvent == eMQTTAgentDisconnect )
    {
        pxEv->xLastDisconnectAt = xTaskGetTickCount();

        if( pxEv->xNestHandle != NULL )
        {
            /* Reconnecting from the disconnect event is what an application
             * would try first: it must not deadlock the agent task. */
            pxEv->xNestedPublish = xUtilPublish( pxEv->xNestHandle, "disc/nested", eMQTTQoS1, "n", 1, 100 );
            pxEv->xNestedConnect = xUtilConnect( pxEv->xNestHandle, usTestBrokerPort(), "afr-disc-nested",
                                                 NULL, NULL, 100 );
        }

        pxEv->iDisconnects++;
    }
    else
    {
        pxEv->iPublishes++;
    }

    return pdFALSE;
}

/* A subscription callback: counts and keeps the last payload; takes the buffer
 * once when xKeep is set (then xKept holds it). */
typedef struct
{
    volatile int iCount;
    char cLast[ 32 ];
    BaseType_t xKeep;
    MQTTBufferHandle_t xKept;
} Received_t;

static MQTTBool_t prvSubCallback( void * pvCtx,
                                  const MQTTPublishData_t * const pxData )
{
    Received_t * pxRx = ( Received_t * ) pvCtx;

    snprintf( pxRx->cLast, sizeof( pxRx->cLast ), "%.*s",
              ( int ) pxData->ulDataLength, ( const char * ) pxData->pvData );

    if( pxRx->xKeep == pdTRUE )
    {
        pxRx->xKeep = pdFALSE;
        pxRx->xKept = pxData->xBuffer;
        pxRx->iCount++;
        return eMQTTTrue;
    }

    pxRx->iCount++;
    return eMQTTFalse;
}

/*------------------------------------ helpers --------------------------------------*/

static BaseType_t prvControl( const char * pcCommand )
{
    return xTestControl( pcCommand, NULL, 0, TEST_CONTROL_TIMEOUT );
}

/* Waits up to xBound ticks for the disconnect count to reach iTarget, then
 * checks it is exactly iTarget (a little later, so that a duplicate event
 * would be seen). Returns pdTRUE if it got there. */
static BaseType_t prvExpectDisconnects( Events_t * pxEv,
                                        int iTarget,
                                        TickType_t xBound )
{
    BaseType_t xReached = xUtilWaitFor( &pxEv->iDisconnects, iTarget, xBound );

    TEST_CHECK_MSG( xReached == pdTRUE, "disconnect events %d, expected %d within %lu ticks",
                    pxEv->iDisconnects, iTarget, ( unsigned long ) xBound );
    vTaskDelay( 100 );
    TEST_CHECK_MSG( pxEv->iDisconnects == iTarget, "disconnect events %d, expected exactly %d",
                    pxEv->iDisconnects, iTarget );
    return xReached;
}

/* A QoS 1 publish on a dead connection fails, long before its timeout. */
static void prvPublishFailsPromptly( MQTTAgentHandle_t xClient,
                                     const char * pcTopic )
{
    TickType_t xStart = xTaskGetTickCount();
    MQTTAgentReturnCode_t xRc = xUtilPublish( xClient, pcTopic, eMQTTQoS1, "dead", 4, LONG_TIMEOUT );
    TickType_t xTook = xTaskGetTickCount() - xStart;

    TEST_CHECK_MSG( xRc == eMQTTAgentFailure, "publish on a lost connection returned %d", ( int ) xRc );
    TEST_CHECK_MSG( xTook < PROMPT_BOUND, "publish on a lost connection took %lu ticks", ( unsigned long ) xTook );

    xStart = xTaskGetTickCount();
    xRc = xUtilPublish( xClient, pcTopic, eMQTTQoS0, "dead", 4, LONG_TIMEOUT );
    xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xRc == eMQTTAgentFailure, "QoS 0 publish on a lost connection returned %d", ( int ) xRc );
    TEST_CHECK_MSG( xTook < PROMPT_BOUND, "QoS 0 publish on a lost connection took %lu ticks", ( unsigned long ) xTook );
}

static void prvCheckPoolFull( void )
{
    int iFree = iUtilPoolFree();

    TEST_CHECK_MSG( iFree == NUM_BUFFERS, "%d of %d pool buffers free", iFree, NUM_BUFFERS );
}

/* Subscribes pcFilter with prvSubCallback, publishes one QoS 1 message to
 * pcTopic and waits for it to come back. */
static void prvRoundTrip( MQTTAgentHandle_t xClient,
                          const char * pcFilter,
                          const char * pcTopic,
                          Received_t * pxRx,
                          const char * pcPayload )
{
    int iBefore = pxRx->iCount;

    TEST_CHECK( xUtilSubscribe( xClient, pcFilter, eMQTTQoS1, prvSubCallback, pxRx ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, pcTopic, eMQTTQoS1, pcPayload, ( uint32_t ) strlen( pcPayload ),
                              T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK_MSG( xUtilWaitFor( &pxRx->iCount, iBefore + 1, 3000 ) == pdTRUE,
                    "round trip on %s: nothing received", pcTopic );
    TEST_CHECK_MSG( strcmp( pxRx->cLast, pcPayload ) == 0, "received '%s', sent '%s'", pxRx->cLast, pcPayload );
}

/* Ends a case: disconnects (if connected) and deletes the client. */
static void prvEnd( MQTTAgentHandle_t * pxClient,
                    BaseType_t xConnected )
{
    if( *pxClient == NULL )
    {
        return;
    }

    if( xConnected == pdTRUE )
    {
        TEST_CHECK( MQTT_AGENT_Disconnect( *pxClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    }

    TEST_CHECK( MQTT_AGENT_Delete( *pxClient ) == eMQTTAgentSuccess );
    *pxClient = NULL;
}

/*-------------------------------- blocked helper tasks -----------------------------*/

typedef enum
{
    eOpPublishQoS1,
    eOpPublishQoS2,
    eOpSubscribe,
    eOpConnect,
} Op_t;

typedef struct
{
    Op_t eOp;
    MQTTAgentHandle_t xClient;
    uint16_t usPort;          /* eOpConnect */
    Events_t * pxEvents;      /* eOpConnect */
    Received_t * pxRx;        /* eOpSubscribe */
    char cTopic[ 32 ];
    volatile MQTTAgentReturnCode_t xResult;
    volatile TickType_t xReturnedAt;
} Blocked_t;

static volatile int iBlockedDone = 0;
static volatile int iBlockedStarted = 0;

static void prvBlockedTask( void * pvParam )
{
    Blocked_t * pxB = ( Blocked_t * ) pvParam;
    MQTTAgentReturnCode_t xRc = eMQTTAgentSuccess;

    taskENTER_CRITICAL();
    iBlockedStarted++;
    taskEXIT_CRITICAL();

    switch( pxB->eOp )
    {
        case eOpPublishQoS1:
            xRc = xUtilPublish( pxB->xClient, pxB->cTopic, eMQTTQoS1, "blocked", 7, LONG_TIMEOUT );
            break;

        case eOpPublishQoS2:
            xRc = xUtilPublish( pxB->xClient, pxB->cTopic, eMQTTQoS2, "blocked", 7, LONG_TIMEOUT );
            break;

        case eOpSubscribe:
            xRc = xUtilSubscribe( pxB->xClient, pxB->cTopic, eMQTTQoS1, prvSubCallback, pxB->pxRx );
            break;

        case eOpConnect:
            xRc = xUtilConnect( pxB->xClient, pxB->usPort, pxB->cTopic, prvConnectCallback,
                                pxB->pxEvents, LONG_TIMEOUT );
            break;
    }

    pxB->xReturnedAt = xTaskGetTickCount();
    pxB->xResult = xRc;
    taskENTER_CRITICAL();
    iBlockedDone++;
    taskEXIT_CRITICAL();
    vTaskDelete( NULL );
}

static void prvStartBlocked( Blocked_t * pxB )
{
    pxB->xResult = ( MQTTAgentReturnCode_t ) -1;
    pxB->xReturnedAt = 0;
    /* Same priority as the test's main task: it runs as soon as main blocks. */
    TEST_ASSERT( xTaskCreate( prvBlockedTask, "blocked", configMINIMAL_STACK_SIZE * 2, pxB,
                              tskIDLE_PRIORITY + 1, NULL ) == pdPASS );
}

/* Counters are only written by the helper tasks while they run; main resets
 * them between cases, when none runs. */
static void prvResetBlocked( void )
{
    iBlockedDone = 0;
    iBlockedStarted = 0;
}

/*------------------------- an in-process scripted server --------------------------*/

/* For what the harness's fake server cannot script: a publish cut off in the
 * middle, an inbound QoS 2 flow cut before its PUBREL. Host sockets, only
 * quick non-blocking calls, waiting with vTaskDelay( 1 ) as simulator tasks
 * must. Used by the test's main task only. */
typedef struct
{
    int iListen;
    int iConn;
    uint16_t usPort;
} Mini_t;

static BaseType_t prvMiniOpen( Mini_t * pxM )
{
    struct sockaddr_in xAddr;
    socklen_t xLen = sizeof( xAddr );
    int iOne = 1;

    pxM->iConn = -1;
    pxM->iListen = socket( AF_INET, SOCK_STREAM, 0 );

    if( pxM->iListen < 0 )
    {
        return pdFAIL;
    }

    ( void ) fcntl( pxM->iListen, F_SETFL, fcntl( pxM->iListen, F_GETFL ) | O_NONBLOCK );
    ( void ) fcntl( pxM->iListen, F_SETFD, FD_CLOEXEC );

    ( void ) setsockopt( pxM->iListen, SOL_SOCKET, SO_REUSEADDR, &iOne, sizeof( iOne ) );
    memset( &xAddr, 0, sizeof( xAddr ) );
    xAddr.sin_family = AF_INET;
    xAddr.sin_addr.s_addr = htonl( INADDR_LOOPBACK );
    xAddr.sin_port = 0;

    if( ( bind( pxM->iListen, ( struct sockaddr * ) &xAddr, sizeof( xAddr ) ) != 0 ) ||
        ( listen( pxM->iListen, 4 ) != 0 ) ||
        ( getsockname( pxM->iListen, ( struct sockaddr * ) &xAddr, &xLen ) != 0 ) )
    {
        ( void ) close( pxM->iListen );
        pxM->iListen = -1;
        return pdFAIL;
    }

    pxM->usPort = ntohs( xAddr.sin_port );
    return pdPASS;
}

/* Closes the served connection; with RST when xReset. */
static void prvMiniDrop( Mini_t * pxM,
                         BaseType_t xReset )
{
    if( pxM->iConn >= 0 )
    {
        if( xReset == pdTRUE )
        {
            struct linger xLinger = { 1, 0 };
            ( void ) setsockopt( pxM->iConn, SOL_SOCKET, SO_LINGER, &xLinger, sizeof( xLinger ) );
        }

        ( void ) close( pxM->iConn );
        pxM->iConn = -1;
    }
}

static void prvMiniClose( Mini_t * pxM )
{
    prvMiniDrop( pxM, pdFALSE );

    if( pxM->iListen >= 0 )
    {
        ( void ) close( pxM->iListen );
        pxM->iListen = -1;
    }
}

static BaseType_t prvMiniAccept( Mini_t * pxM,
                                 TickType_t xBound )
{
    TickType_t xStart = xTaskGetTickCount();

    prvMiniDrop( pxM, pdFALSE );

    for( ; ; )
    {
        int iFd = accept( pxM->iListen, NULL, NULL );

        if( iFd >= 0 )
        {
            ( void ) fcntl( iFd, F_SETFL, fcntl( iFd, F_GETFL ) | O_NONBLOCK );
            ( void ) fcntl( iFd, F_SETFD, FD_CLOEXEC );
            pxM->iConn = iFd;
            return pdPASS;
        }

        if( ( errno != EAGAIN ) && ( errno != EWOULDBLOCK ) && ( errno != EINTR ) )
        {
            return pdFAIL;
        }

        if( ( xTaskGetTickCount() - xStart ) >= xBound )
        {
            return pdFAIL;
        }

        vTaskDelay( 1 );
    }
}

static BaseType_t prvMiniSend( Mini_t * pxM,
                               const void * pvData,
                               size_t xLen )
{
    const uint8_t * pucData = ( const uint8_t * ) pvData;
    TickType_t xStart = xTaskGetTickCount();

    while( xLen > 0U )
    {
        ssize_t n = send( pxM->iConn, pucData, xLen, MSG_DONTWAIT | MSG_NOSIGNAL );

        if( n > 0 )
        {
            pucData += n;
            xLen -= ( size_t ) n;
            continue;
        }

        if( ( n < 0 ) && ( errno != EAGAIN ) && ( errno != EWOULDBLOCK ) && ( errno != EINTR ) )
        {
            return pdFAIL;
        }

        if( ( xTaskGetTickCount() - xStart ) >= 2000U )
        {
            return pdFAIL;
        }

        vTaskDelay( 1 );
    }

    return pdPASS;
}

/* Reads exactly xLen bytes within xBound ticks. */
static BaseType_t prvMiniRecvExact( Mini_t * pxM,
                                    uint8_t * pucBuf,
                                    size_t xLen,
                                    TickType_t xBound )
{
    TickType_t xStart = xTaskGetTickCount();
    size_t xGot = 0;

    while( xGot < xLen )
    {
        ssize_t n = recv( pxM->iConn, pucBuf + xGot, xLen - xGot, MSG_DONTWAIT );

        if( n > 0 )
        {
            xGot += ( size_t ) n;
            continue;
        }

        if( ( n == 0 ) || ( ( errno != EAGAIN ) && ( errno != EWOULDBLOCK ) && ( errno != EINTR ) ) )
        {
            return pdFAIL; /* Closed, or an error. */
        }

        if( ( xTaskGetTickCount() - xStart ) >= xBound )
        {
            return pdFAIL;
        }

        vTaskDelay( 1 );
    }

    return pdPASS;
}

/* Reads one MQTT packet: its first byte in *pucType, its body (truncated to
 * xSize) in pucBody, its length in *pxBodyLen. */
static BaseType_t prvMiniRecvPacket( Mini_t * pxM,
                                     uint8_t * pucType,
                                     uint8_t * pucBody,
                                     size_t xSize,
                                     size_t * pxBodyLen,
                                     TickType_t xBound )
{
    uint8_t ucByte;
    size_t xLen = 0;
    uint8_t ucDiscard[ 64 ];

    if( prvMiniRecvExact( pxM, pucType, 1, xBound ) != pdPASS )
    {
        return pdFAIL;
    }

    for( int i = 0; ; i++ )
    {
        if( ( i == 4 ) || ( prvMiniRecvExact( pxM, &ucByte, 1, xBound ) != pdPASS ) )
        {
            return pdFAIL;
        }

        xLen |= ( size_t ) ( ucByte & 0x7FU ) << ( 7 * i );

        if( ( ucByte & 0x80U ) == 0U )
        {
            break;
        }
    }

    *pxBodyLen = xLen;

    for( size_t xDone = 0; xDone < xLen; )
    {
        size_t xChunk = xLen - xDone;
        uint8_t * pucDest = ucDiscard;

        if( xDone < xSize )
        {
            pucDest = pucBody + xDone;
            xChunk = ( xChunk < xSize - xDone ) ? xChunk : xSize - xDone;
        }
        else if( xChunk > sizeof( ucDiscard ) )
        {
            xChunk = sizeof( ucDiscard );
        }

        if( prvMiniRecvExact( pxM, pucDest, xChunk, xBound ) != pdPASS )
        {
            return pdFAIL;
        }

        xDone += xChunk;
    }

    return pdPASS;
}

/* Connects xClient to the mini server from a helper task and plays the
 * server's side: accept, CONNECT, CONNACK. */
static BaseType_t prvMiniConnect( Mini_t * pxM,
                                  MQTTAgentHandle_t xClient,
                                  Events_t * pxEv,
                                  const char * pcClientId )
{
    static Blocked_t xB;
    uint8_t ucType = 0, ucBody[ 256 ];
    size_t xLen = 0;
    static const uint8_t ucConnAck[] = { 0x20, 0x02, 0x00, 0x00 };

    memset( &xB, 0, sizeof( xB ) );
    prvResetBlocked();
    xB.eOp = eOpConnect;
    xB.xClient = xClient;
    xB.usPort = pxM->usPort;
    xB.pxEvents = pxEv;
    snprintf( xB.cTopic, sizeof( xB.cTopic ), "%s", pcClientId );
    prvStartBlocked( &xB );

    BaseType_t xOk = prvMiniAccept( pxM, 2000 );
    TEST_CHECK_MSG( xOk == pdPASS, "mini server: no connection" );

    if( xOk == pdPASS )
    {
        xOk = prvMiniRecvPacket( pxM, &ucType, ucBody, sizeof( ucBody ), &xLen, 2000 );
        TEST_CHECK_MSG( xOk == pdPASS && ucType == 0x10, "mini server: no CONNECT (got 0x%02x)", ucType );
    }

    if( xOk == pdPASS )
    {
        xOk = prvMiniSend( pxM, ucConnAck, sizeof( ucConnAck ) );
    }

    /* The helper must be gone before xB is used again, whatever happened. */
    TEST_ASSERT( xUtilWaitFor( &iBlockedDone, 1, LONG_TIMEOUT + 1000 ) == pdTRUE );
    TEST_CHECK_MSG( xB.xResult == eMQTTAgentSuccess, "connect to the mini server returned %d", ( int ) xB.xResult );
    return ( xOk == pdPASS && xB.xResult == eMQTTAgentSuccess ) ? pdPASS : pdFAIL;
}

/*---------------------------------------- cases ------------------------------------*/

/* 1. The broker stops (SIGTERM: it closes its sockets) mid-session. */
static void prvBrokerStopped( void )
{
    static Events_t xEv;
    static Received_t xRx;
    MQTTAgentHandle_t xClient = NULL;

    memset( &xEv, 0, sizeof( xEv ) );
    memset( &xRx, 0, sizeof( xRx ) );

    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xClient, usTestBrokerPort(), "afr-disc-stop", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTrip( xClient, "disc/stop/#", "disc/stop/1", &xRx, "before" );
    xEv.xNestHandle = xClient;
    xEv.xNestedPublish = xEv.xNestedConnect = ( MQTTAgentReturnCode_t ) -1;

    TEST_ASSERT( prvControl( "broker-stop" ) == pdPASS );
    TickType_t xStopped = xTaskGetTickCount();

    if( prvExpectDisconnects( &xEv, 1, LOSS_BOUND ) == pdTRUE )
    {
        vTestNote( "disconnect reported %ld ticks after broker-stop returned",
                   ( long ) ( xEv.xLastDisconnectAt - xStopped ) );
    }

    xEv.xNestHandle = NULL;
    TEST_CHECK_MSG( xEv.xNestedPublish == eMQTTAgentAPICalledFromCallback,
                    "publish from the disconnect callback returned %d", ( int ) xEv.xNestedPublish );
    TEST_CHECK_MSG( xEv.xNestedConnect == eMQTTAgentAPICalledFromCallback,
                    "connect from the disconnect callback returned %d", ( int ) xEv.xNestedConnect );
    prvCheckPoolFull();
    prvPublishFailsPromptly( xClient, "disc/stop/1" );
    TEST_CHECK( xUtilSubscribe( xClient, "disc/stop/again", eMQTTQoS1, prvSubCallback, &xRx ) == eMQTTAgentFailure );

    /* While the broker is down, a connect is refused (no event: never connected). */
    TEST_CHECK( xUtilConnect( xClient, usTestBrokerPort(), "afr-disc-stop", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentFailure );

    TEST_ASSERT( prvControl( "broker-start" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestBrokerPort(), "afr-disc-stop", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    /* A clean session: the subscription is made again. */
    prvRoundTrip( xClient, "disc/stop/#", "disc/stop/2", &xRx, "after" );
    TEST_CHECK( xRx.iCount == 2 );

    prvEnd( &xClient, pdTRUE );
    TEST_CHECK_MSG( xEv.iDisconnects == 1, "disconnect events %d", xEv.iDisconnects );
    prvCheckPoolFull();
}

/* 1b. The broker dies (SIGKILL) while the application holds a received buffer
 * (its callback took it): the library recycles its own buffers, the
 * application's stays valid until it gives it back. */
static void prvBrokerKilledWithHeldBuffer( void )
{
    static Events_t xEv;
    static Received_t xRx;
    MQTTAgentHandle_t xClient = NULL;

    memset( &xEv, 0, sizeof( xEv ) );
    memset( &xRx, 0, sizeof( xRx ) );

    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xClient, usTestBrokerPort(), "afr-disc-kill", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    xRx.xKeep = pdTRUE;
    prvRoundTrip( xClient, "disc/kill/#", "disc/kill/1", &xRx, "held" );
    TEST_ASSERT( xRx.xKept != NULL );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS - 1 );

    TEST_ASSERT( prvControl( "broker-kill" ) == pdPASS );
    prvExpectDisconnects( &xEv, 1, LOSS_BOUND );

    /* Still the application's: intact, and only it gives it back. */
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS - 1 );
    TEST_CHECK( strcmp( xRx.cLast, "held" ) == 0 );
    TEST_CHECK( MQTT_AGENT_ReturnBuffer( xClient, xRx.xKept ) == eMQTTAgentSuccess );
    prvCheckPoolFull();
    prvPublishFailsPromptly( xClient, "disc/kill/1" );

    TEST_ASSERT( prvControl( "broker-start" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestBrokerPort(), "afr-disc-kill", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTrip( xClient, "disc/kill/#", "disc/kill/2", &xRx, "again" );
    prvEnd( &xClient, pdTRUE );
    TEST_CHECK_MSG( xEv.iDisconnects == 1, "disconnect events %d", xEv.iDisconnects );
    prvCheckPoolFull();
}

/* Starts iN helper tasks publishing on xClient (QoS 1, the last one QoS 2;
 * topic pcTopicPrefix/<index>) and waits until each has started and all are
 * blocked: none returns within 200 ticks. */
static void prvStartBlockedOps( Blocked_t * pxB,
                                int iN,
                                MQTTAgentHandle_t xClient,
                                const char * pcTopicPrefix )
{
    prvResetBlocked();

    for( int i = 0; i < iN; i++ )
    {
        memset( &pxB[ i ], 0, sizeof( pxB[ i ] ) );
        /* The last one is a QoS 2 publish, the others QoS 1. */
        pxB[ i ].eOp = ( i == iN - 1 ) ? eOpPublishQoS2 : eOpPublishQoS1;
        pxB[ i ].xClient = xClient;
        snprintf( pxB[ i ].cTopic, sizeof( pxB[ i ].cTopic ), "%s/%d", pcTopicPrefix, i );
        prvStartBlocked( &pxB[ i ] );
    }

    TEST_ASSERT( xUtilWaitFor( &iBlockedStarted, iN, 1000 ) == pdTRUE );
    /* They wait for acknowledgements, or for an operation slot (and keep
     * waiting: nothing passes the frozen relay). */
    vTaskDelay( 200 );
    TEST_CHECK_MSG( iBlockedDone == 0, "%d blocked callers returned early", iBlockedDone );
}

/* Checks that the iN helper tasks all returned eMQTTAgentFailure within
 * PROMPT_BOUND ticks of xSince; waits for them to end in any case. */
static void prvExpectBlockedFailed( Blocked_t * pxB,
                                    int iN,
                                    TickType_t xSince )
{
    TEST_CHECK_MSG( xUtilWaitFor( &iBlockedDone, iN, PROMPT_BOUND ) == pdTRUE,
                    "%d of %d blocked callers returned within %lu ticks",
                    iBlockedDone, iN, ( unsigned long ) PROMPT_BOUND );
    /* The rest of the case needs them gone (they use the client). */
    TEST_ASSERT( xUtilWaitFor( &iBlockedDone, iN, LONG_TIMEOUT + 1000 ) == pdTRUE );

    TickType_t xLatest = 0;

    for( int i = 0; i < iN; i++ )
    {
        TickType_t xAfter = pxB[ i ].xReturnedAt - xSince;
        xLatest = ( xAfter > xLatest ) ? xAfter : xLatest;
        TEST_CHECK_MSG( pxB[ i ].xResult == eMQTTAgentFailure, "blocked caller %d returned %d", i, ( int ) pxB[ i ].xResult );
        TEST_CHECK_MSG( xAfter < PROMPT_BOUND, "blocked caller %d returned %lu ticks later", i, ( unsigned long ) xAfter );
    }

    vTestNote( "%d blocked callers: the last returned %lu ticks later", iN, ( unsigned long ) xLatest );
}

/* 1d. Another connection with the same client id takes the session over:
 * the broker closes the first one, whose client hears of it once. */
static void prvClientIdTakeover( void )
{
    static Events_t xEv1, xEv2;
    static Received_t xRx;
    MQTTAgentHandle_t xFirst = NULL, xSecond = NULL;

    memset( &xEv1, 0, sizeof( xEv1 ) );
    memset( &xEv2, 0, sizeof( xEv2 ) );
    memset( &xRx, 0, sizeof( xRx ) );
    TEST_ASSERT( MQTT_AGENT_Create( &xFirst ) == eMQTTAgentSuccess );
    TEST_ASSERT( MQTT_AGENT_Create( &xSecond ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xFirst, usTestBrokerPort(), "afr-disc-same", prvConnectCallback, &xEv1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xFirst, "disc/same", eMQTTQoS1, "1", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xSecond, usTestBrokerPort(), "afr-disc-same", prvConnectCallback, &xEv2, T_TIMEOUT ) == eMQTTAgentSuccess );

    prvExpectDisconnects( &xEv1, 1, LOSS_BOUND );
    prvPublishFailsPromptly( xFirst, "disc/same" );
    prvRoundTrip( xSecond, "disc/same/#", "disc/same/2", &xRx, "second" );
    TEST_CHECK( xEv2.iDisconnects == 0 );
    prvEnd( &xSecond, pdTRUE );
    prvEnd( &xFirst, pdFALSE );
    TEST_CHECK( xEv1.iDisconnects == 1 && xEv2.iDisconnects == 0 );
    prvCheckPoolFull();
}

/* 2. Callers blocked on acknowledgements that cannot come (relay frozen),
 * one more than there are operation slots, return eMQTTAgentFailure promptly
 * when the connection is reset. Another client is not affected. */
static void prvBlockedCallersFailPromptly( void )
{
    static Events_t xEv, xEvOther;
    static Received_t xRx, xRxOther;
    static Blocked_t xB[ mqttconfigMAX_PARALLEL_OPS + 1 ];
    MQTTAgentHandle_t xClient = NULL, xOther = NULL;
    const int iN = ( int ) ( sizeof( xB ) / sizeof( xB[ 0 ] ) );

    memset( &xEv, 0, sizeof( xEv ) );
    memset( &xEvOther, 0, sizeof( xEvOther ) );
    memset( &xRx, 0, sizeof( xRx ) );
    memset( &xRxOther, 0, sizeof( xRxOther ) );

    TEST_ASSERT( MQTT_AGENT_Create( &xOther ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xOther, usTestBrokerPort(), "afr-disc-other", prvConnectCallback, &xEvOther, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xClient, usTestRelayPort(), "afr-disc-relay", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( prvControl( "relay-freeze" ) == pdPASS );

    prvStartBlockedOps( xB, iN, xClient, "disc/relay" );

    TickType_t xResetAt = xTaskGetTickCount();
    TEST_ASSERT( prvControl( "relay-reset" ) == pdPASS );
    vTestNote( "relay-reset took %lu ticks", ( unsigned long ) ( xTaskGetTickCount() - xResetAt ) );
    prvExpectBlockedFailed( xB, iN, xResetAt );

    prvExpectDisconnects( &xEv, 1, LOSS_BOUND );
    prvCheckPoolFull();

    /* The other client did not notice. */
    TEST_CHECK( xEvOther.iDisconnects == 0 );
    prvRoundTrip( xOther, "disc/other/#", "disc/other/1", &xRxOther, "unaffected" );

    TEST_ASSERT( prvControl( "relay-thaw" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestRelayPort(), "afr-disc-relay", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTrip( xClient, "disc/relay/#", "disc/relay/ok", &xRx, "after-reset" );
    prvEnd( &xClient, pdTRUE );
    prvEnd( &xOther, pdTRUE );
    TEST_CHECK_MSG( xEv.iDisconnects == 1, "disconnect events %d", xEv.iDisconnects );
    TEST_CHECK( xEvOther.iDisconnects == 0 );
    prvCheckPoolFull();
}

/* 2a. The same with MQTT_AGENT_Disconnect instead of a reset: the blocked
 * callers fail promptly, and a requested disconnect is no disconnect event. */
static void prvRequestedDisconnectWithBlockedCallers( void )
{
    static Events_t xEv;
    static Blocked_t xB[ 3 ];
    MQTTAgentHandle_t xClient = NULL;
    const int iN = ( int ) ( sizeof( xB ) / sizeof( xB[ 0 ] ) );

    memset( &xEv, 0, sizeof( xEv ) );
    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xClient, usTestRelayPort(), "afr-disc-asked", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( prvControl( "relay-freeze" ) == pdPASS );
    prvStartBlockedOps( xB, iN, xClient, "disc/asked" );

    TickType_t xAskedAt = xTaskGetTickCount();
    MQTTAgentReturnCode_t xRc = MQTT_AGENT_Disconnect( xClient, T_TIMEOUT );
    TickType_t xTook = xTaskGetTickCount() - xAskedAt;
    TEST_CHECK_MSG( xRc == eMQTTAgentSuccess, "disconnect returned %d", ( int ) xRc );
    TEST_CHECK_MSG( xTook < PROMPT_BOUND, "disconnect took %lu ticks", ( unsigned long ) xTook );
    prvExpectBlockedFailed( xB, iN, xAskedAt );
    vTaskDelay( 100 );
    TEST_CHECK_MSG( xEv.iDisconnects == 0, "disconnect events %d after a requested disconnect", xEv.iDisconnects );
    prvCheckPoolFull();

    TEST_ASSERT( prvControl( "relay-thaw" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestRelayPort(), "afr-disc-asked", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "disc/asked/ok", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvEnd( &xClient, pdTRUE );
    TEST_CHECK( xEv.iDisconnects == 0 );
    prvCheckPoolFull();
}

/* 2b. A subscribe blocked on its SUBACK fails the same way, and the failed
 * subscription's callback does not linger. */
static void prvBlockedSubscribeFails( void )
{
    static Events_t xEv;
    static Received_t xRx;
    static Blocked_t xB;
    MQTTAgentHandle_t xClient = NULL;

    memset( &xEv, 0, sizeof( xEv ) );
    memset( &xRx, 0, sizeof( xRx ) );
    memset( &xB, 0, sizeof( xB ) );
    prvResetBlocked();

    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xClient, usTestRelayPort(), "afr-disc-sub", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( prvControl( "relay-freeze" ) == pdPASS );

    xB.eOp = eOpSubscribe;
    xB.xClient = xClient;
    xB.pxRx = &xRx;
    snprintf( xB.cTopic, sizeof( xB.cTopic ), "disc/sub/#" );
    prvStartBlocked( &xB );
    TEST_ASSERT( xUtilWaitFor( &iBlockedStarted, 1, 1000 ) == pdTRUE );
    vTaskDelay( 200 );
    TEST_CHECK( iBlockedDone == 0 );

    TickType_t xResetAt = xTaskGetTickCount();
    TEST_ASSERT( prvControl( "relay-reset" ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &iBlockedDone, 1, PROMPT_BOUND ) == pdTRUE );
    TEST_ASSERT( xUtilWaitFor( &iBlockedDone, 1, LONG_TIMEOUT + 1000 ) == pdTRUE );
    TEST_CHECK_MSG( xB.xResult == eMQTTAgentFailure, "blocked subscribe returned %d", ( int ) xB.xResult );
    TEST_CHECK_MSG( xB.xReturnedAt - xResetAt < PROMPT_BOUND, "blocked subscribe returned %lu ticks after the reset",
                    ( unsigned long ) ( xB.xReturnedAt - xResetAt ) );
    prvExpectDisconnects( &xEv, 1, LOSS_BOUND );
    prvCheckPoolFull();

    TEST_ASSERT( prvControl( "relay-thaw" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestRelayPort(), "afr-disc-sub", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    /* Unclaimed by any subscription callback, a publish reaches the connect callback. */
    TEST_CHECK( xUtilSubscribe( xClient, "disc/sub/#", eMQTTQoS1, NULL, NULL ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "disc/sub/x", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &xEv.iPublishes, 1, 3000 ) == pdTRUE );
    TEST_CHECK_MSG( xRx.iCount == 0, "the failed subscription's callback ran %d times", xRx.iCount );
    prvEnd( &xClient, pdTRUE );
    TEST_CHECK( xEv.iDisconnects == 1 );
    prvCheckPoolFull();
}

/* 2c. A connect waiting for its CONNACK when the connection is reset fails
 * promptly, without a disconnect event (it never was connected). */
static void prvPendingConnectReset( void )
{
    static Events_t xEv;
    static Blocked_t xB;
    MQTTAgentHandle_t xClient = NULL;

    memset( &xEv, 0, sizeof( xEv ) );
    memset( &xB, 0, sizeof( xB ) );
    prvResetBlocked();

    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( prvControl( "relay-freeze" ) == pdPASS );

    xB.eOp = eOpConnect;
    xB.xClient = xClient;
    xB.usPort = usTestRelayPort();
    xB.pxEvents = &xEv;
    snprintf( xB.cTopic, sizeof( xB.cTopic ), "afr-disc-pending" ); /* the client id */
    prvStartBlocked( &xB );
    TEST_ASSERT( xUtilWaitFor( &iBlockedStarted, 1, 1000 ) == pdTRUE );
    vTaskDelay( 200 );
    TEST_CHECK( iBlockedDone == 0 );

    TickType_t xResetAt = xTaskGetTickCount();
    TEST_ASSERT( prvControl( "relay-reset" ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &iBlockedDone, 1, PROMPT_BOUND ) == pdTRUE );
    TEST_ASSERT( xUtilWaitFor( &iBlockedDone, 1, LONG_TIMEOUT + 1000 ) == pdTRUE );
    TEST_CHECK_MSG( xB.xResult == eMQTTAgentFailure, "pending connect returned %d", ( int ) xB.xResult );
    TEST_CHECK_MSG( xB.xReturnedAt - xResetAt < PROMPT_BOUND, "pending connect returned %lu ticks after the reset",
                    ( unsigned long ) ( xB.xReturnedAt - xResetAt ) );
    vTaskDelay( 100 );
    TEST_CHECK_MSG( xEv.iDisconnects == 0, "disconnect events %d for a connect that never completed", xEv.iDisconnects );
    prvCheckPoolFull();

    TEST_ASSERT( prvControl( "relay-thaw" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestRelayPort(), "afr-disc-pending", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "disc/pending", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvEnd( &xClient, pdTRUE );
    TEST_CHECK( xEv.iDisconnects == 0 );
    prvCheckPoolFull();
}

/* 3. The fake server breaks the session after a good CONNACK. */
static void prvServerBreaksSession( void )
{
    static Events_t xEv;
    MQTTAgentHandle_t xClient = NULL;
    /* Script, and a command to run once connected (NULL: none). */
    static const struct
    {
        const char * pcScript;
        const char * pcThen;
    } xWays[] =
    {
        { "connack-then-garbage",    NULL         }, /* reserved packet type 15 */
        { "connack-then-bad-length", NULL         }, /* 5-byte remaining length */
        { "connack-then-close",      NULL         }, /* FIN after the CONNACK */
        { "normal-connack",          "fake-close" }, /* FIN mid-session */
    };

    memset( &xEv, 0, sizeof( xEv ) );
    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );

    for( int i = 0; i < ( int ) ( sizeof( xWays ) / sizeof( xWays[ 0 ] ) ); i++ )
    {
        char cCmd[ 64 ];
        int iBefore = xEv.iDisconnects;

        vTestNote( "server: %s%s%s", xWays[ i ].pcScript, xWays[ i ].pcThen ? " + " : "",
                   xWays[ i ].pcThen ? xWays[ i ].pcThen : "" );
        snprintf( cCmd, sizeof( cCmd ), "fake-script %s", xWays[ i ].pcScript );
        TEST_ASSERT( prvControl( cCmd ) == pdPASS );
        TEST_CHECK( xUtilConnect( xClient, usTestFakePort(), "afr-disc-fake", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
        TickType_t xConnectedAt = xTaskGetTickCount();

        if( xWays[ i ].pcThen != NULL )
        {
            /* Show the session works before the server closes it. */
            TEST_CHECK( xUtilPublish( xClient, "disc/fake", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
            xConnectedAt = xTaskGetTickCount();
            TEST_ASSERT( prvControl( xWays[ i ].pcThen ) == pdPASS );
        }

        /* The scripts act within ~200 ms of the CONNACK. */
        if( prvExpectDisconnects( &xEv, iBefore + 1, LOSS_BOUND ) == pdTRUE )
        {
            vTestNote( "disconnect reported %ld ticks after connected",
                       ( long ) ( xEv.xLastDisconnectAt - xConnectedAt ) );
        }

        prvCheckPoolFull();
        prvPublishFailsPromptly( xClient, "disc/fake" );

        /* The same handle connects again to a well-behaved server. */
        TEST_ASSERT( prvControl( "fake-script normal-connack" ) == pdPASS );
        TEST_CHECK( xUtilConnect( xClient, usTestFakePort(), "afr-disc-fake", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK( xUtilPublish( xClient, "disc/fake", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK( xUtilSubscribe( xClient, "disc/fake/#", eMQTTQoS1, NULL, NULL ) == eMQTTAgentSuccess );
        TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
        vTaskDelay( 50 );
        TEST_CHECK_MSG( xEv.iDisconnects == iBefore + 1, "disconnect events %d after a requested disconnect, expected %d",
                        xEv.iDisconnects, iBefore + 1 );
        prvCheckPoolFull();
    }

    prvEnd( &xClient, pdFALSE );
}

/* 3b. A client whose connection was lost is deleted without reconnecting. */
static void prvDeleteAfterLoss( void )
{
    static Events_t xEv;
    MQTTAgentHandle_t xClient = NULL;

    memset( &xEv, 0, sizeof( xEv ) );
    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( prvControl( "fake-script normal-connack" ) == pdPASS );
    TEST_ASSERT( xUtilConnect( xClient, usTestFakePort(), "afr-disc-delete", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "disc/delete", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( prvControl( "fake-close" ) == pdPASS );
    prvExpectDisconnects( &xEv, 1, LOSS_BOUND );

    /* Not specified: only noted. */
    vTestNote( "MQTT_AGENT_Disconnect after a lost connection returned %d",
               ( int ) MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) );

    TEST_CHECK( MQTT_AGENT_Delete( xClient ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xClient ) == eMQTTAgentFailure );
    TEST_CHECK( xUtilPublish( xClient, "disc/delete", eMQTTQoS0, "x", 1, 10 ) == eMQTTAgentFailure );
    vTaskDelay( 100 );
    TEST_CHECK( xEv.iDisconnects == 1 );
    prvCheckPoolFull();
}

/* 3c. The connection ends in the middle of a received publish: the pool
 * buffer the agent was filling goes back (and with a publish too large for
 * any buffer, which is read and thrown away, nothing is held). */
static void prvPartialPublishThenClose( void )
{
    static Events_t xEv;
    static Mini_t xM;
    MQTTAgentHandle_t xClient = NULL;
    /* QoS 1 PUBLISH "a/b" id 7, remaining length 300 (fits a pool buffer) or
     * 3000 (does not), of which only 14 bytes are sent. */
    static const uint8_t ucFits[] = { 0x32, 0xAC, 0x02, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'p', 'a', 'r', 't', 'i', 'a' };
    static const uint8_t ucTooBig[] = { 0x32, 0xB8, 0x17, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'p', 'a', 'r', 't', 'i', 'a' };
    static const struct
    {
        const uint8_t * pucBytes;
        size_t xLen;
        int iHeld;            /* Pool buffers the agent holds meanwhile. */
        BaseType_t xReset;    /* RST instead of FIN. */
    } xWays[] =
    {
        { ucFits,   sizeof( ucFits ),   1, pdFALSE },
        { ucFits,   sizeof( ucFits ),   1, pdTRUE  },
        { ucTooBig, sizeof( ucTooBig ), 0, pdFALSE },
    };

    memset( &xEv, 0, sizeof( xEv ) );
    TEST_ASSERT( prvMiniOpen( &xM ) == pdPASS );
    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );

    for( int i = 0; i < ( int ) ( sizeof( xWays ) / sizeof( xWays[ 0 ] ) ); i++ )
    {
        int iBefore = xEv.iDisconnects;

        if( prvMiniConnect( &xM, xClient, &xEv, "afr-disc-partial" ) != pdPASS )
        {
            break;
        }

        TEST_CHECK( prvMiniSend( &xM, xWays[ i ].pucBytes, xWays[ i ].xLen ) == pdPASS );
        /* Nothing observable says the agent has read it (counting free pool
         * buffers takes them all for a moment, so it must not race the
         * agent's read): give it ample time. */
        vTaskDelay( 300 );
        int iFree = iUtilPoolFree();
        TEST_CHECK_MSG( iFree == NUM_BUFFERS - xWays[ i ].iHeld, "way %d: %d pool buffers free during the publish, expected %d",
                        i, iFree, NUM_BUFFERS - xWays[ i ].iHeld );
        TEST_CHECK( xEv.iDisconnects == iBefore );

        prvMiniDrop( &xM, xWays[ i ].xReset );
        prvExpectDisconnects( &xEv, iBefore + 1, LOSS_BOUND );
        TEST_CHECK_MSG( xEv.iPublishes == 0, "way %d: a partial publish was delivered", i );
        prvCheckPoolFull();
    }

    prvEnd( &xClient, pdFALSE );
    prvMiniClose( &xM );
    prvCheckPoolFull();
}

/* 3d. An inbound QoS 2 publish whose PUBREL never came (the connection
 * dropped) is forgotten with the session: the same packet id on the next
 * connection is a new message, delivered once, and its flow completes. */
static void prvInboundQoS2AcrossLoss( void )
{
    static Events_t xEv;
    static Mini_t xM;
    MQTTAgentHandle_t xClient = NULL;
    static const uint8_t ucPub[] = { 0x34, 0x08, 0x00, 0x03, 'q', '/', '2', 0x00, 0x05, 'x' };
    static const uint8_t ucPubDup[] = { 0x3C, 0x08, 0x00, 0x03, 'q', '/', '2', 0x00, 0x05, 'x' };
    static const uint8_t ucPubRel[] = { 0x62, 0x02, 0x00, 0x05 };
    uint8_t ucType = 0, ucBody[ 16 ];
    size_t xLen = 0;

    memset( &xEv, 0, sizeof( xEv ) );
    TEST_ASSERT( prvMiniOpen( &xM ) == pdPASS );
    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );

    /* First connection: PUBLISH, PUBREC, then the server goes away. */
    if( prvMiniConnect( &xM, xClient, &xEv, "afr-disc-qos2" ) == pdPASS )
    {
        TEST_CHECK( prvMiniSend( &xM, ucPub, sizeof( ucPub ) ) == pdPASS );
        TEST_CHECK( prvMiniRecvPacket( &xM, &ucType, ucBody, sizeof( ucBody ), &xLen, 2000 ) == pdPASS );
        TEST_CHECK_MSG( ucType == 0x50 && xLen == 2 && ucBody[ 0 ] == 0 && ucBody[ 1 ] == 5,
                        "expected PUBREC 5, got 0x%02x (%u bytes)", ucType, ( unsigned ) xLen );
        TEST_CHECK( xUtilWaitFor( &xEv.iPublishes, 1, 1000 ) == pdTRUE );
        prvMiniDrop( &xM, pdFALSE );
        prvExpectDisconnects( &xEv, 1, LOSS_BOUND );
    }

    /* Second connection: the same packet id is a new message. */
    if( prvMiniConnect( &xM, xClient, &xEv, "afr-disc-qos2" ) == pdPASS )
    {
        TEST_CHECK( prvMiniSend( &xM, ucPub, sizeof( ucPub ) ) == pdPASS );
        TEST_CHECK( prvMiniRecvPacket( &xM, &ucType, ucBody, sizeof( ucBody ), &xLen, 2000 ) == pdPASS );
        TEST_CHECK_MSG( ucType == 0x50, "expected PUBREC, got 0x%02x", ucType );
        TEST_CHECK_MSG( xUtilWaitFor( &xEv.iPublishes, 2, 1000 ) == pdTRUE,
                        "the QoS 2 publish on the new connection was not delivered (%d deliveries)", xEv.iPublishes );

        /* A duplicate before PUBREL: acknowledged again, not delivered again. */
        TEST_CHECK( prvMiniSend( &xM, ucPubDup, sizeof( ucPubDup ) ) == pdPASS );
        TEST_CHECK( prvMiniRecvPacket( &xM, &ucType, ucBody, sizeof( ucBody ), &xLen, 2000 ) == pdPASS );
        TEST_CHECK_MSG( ucType == 0x50, "expected PUBREC for the duplicate, got 0x%02x", ucType );

        TEST_CHECK( prvMiniSend( &xM, ucPubRel, sizeof( ucPubRel ) ) == pdPASS );
        TEST_CHECK( prvMiniRecvPacket( &xM, &ucType, ucBody, sizeof( ucBody ), &xLen, 2000 ) == pdPASS );
        TEST_CHECK_MSG( ucType == 0x70 && xLen == 2 && ucBody[ 1 ] == 5, "expected PUBCOMP 5, got 0x%02x", ucType );
        TEST_CHECK_MSG( xEv.iPublishes == 2, "%d deliveries, expected 2", xEv.iPublishes );

        /* A requested disconnect sends DISCONNECT, and is no event. */
        TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK( prvMiniRecvPacket( &xM, &ucType, ucBody, sizeof( ucBody ), &xLen, 2000 ) == pdPASS );
        TEST_CHECK_MSG( ucType == 0xE0 && xLen == 0, "expected DISCONNECT, got 0x%02x", ucType );
        vTaskDelay( 100 );
        TEST_CHECK( xEv.iDisconnects == 1 );
    }

    prvEnd( &xClient, pdFALSE );
    prvMiniClose( &xM );
    prvCheckPoolFull();
}

/* 3e. A lost connection without a connect callback: nothing to report, and
 * nothing breaks. */
static void prvLossWithoutCallback( void )
{
    MQTTAgentHandle_t xClient = NULL;

    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( prvControl( "fake-script connack-then-bad-length" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestFakePort(), "afr-disc-nocb", NULL, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    vTaskDelay( 300 ); /* No event to wait for. */
    prvPublishFailsPromptly( xClient, "disc/nocb" );
    TEST_ASSERT( prvControl( "fake-script normal-connack" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestFakePort(), "afr-disc-nocb", NULL, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "disc/nocb", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvEnd( &xClient, pdTRUE );
    prvCheckPoolFull();
}

/* 1c. Tasks publishing (and receiving their own messages) in a loop when the
 * broker dies: every call returns success or failure (never hangs), the last
 * ones fail promptly, one event, nothing leaks. */
typedef struct
{
    MQTTAgentHandle_t xClient;
    int iIndex;
    volatile int iSucceeded;
    volatile int iOther;             /* Neither success nor failure. */
    volatile MQTTAgentReturnCode_t xOther;
    volatile TickType_t xFailedAt;   /* When the first failure returned. */
    volatile TickType_t xFailedTook; /* How long that call took. */
} Looper_t;

static volatile int iLoopersDone = 0;

static void prvLooperTask( void * pvParam )
{
    Looper_t * pxL = ( Looper_t * ) pvParam;
    char cTopic[ 32 ];

    snprintf( cTopic, sizeof( cTopic ), "disc/loop/%d", pxL->iIndex );

    for( ; ; )
    {
        TickType_t xStart = xTaskGetTickCount();
        MQTTAgentReturnCode_t xRc = xUtilPublish( pxL->xClient, cTopic, ( pxL->iIndex == 2 ) ? eMQTTQoS2 : eMQTTQoS1,
                                                  "loop-loop-loop-loop", 19, LONG_TIMEOUT );

        if( xRc == eMQTTAgentSuccess )
        {
            pxL->iSucceeded++;
        }
        else
        {
            if( xRc != eMQTTAgentFailure )
            {
                pxL->iOther++;
                pxL->xOther = xRc;
            }

            pxL->xFailedAt = xTaskGetTickCount();
            pxL->xFailedTook = pxL->xFailedAt - xStart;
            break;
        }
    }

    taskENTER_CRITICAL();
    iLoopersDone++;
    taskEXIT_CRITICAL();
    vTaskDelete( NULL );
}

static void prvPublishingWhileBrokerKilled( void )
{
    static Events_t xEv;
    static Received_t xRx;
    static Looper_t xL[ 3 ];
    MQTTAgentHandle_t xClient = NULL;
    const int iN = ( int ) ( sizeof( xL ) / sizeof( xL[ 0 ] ) );

    memset( &xEv, 0, sizeof( xEv ) );
    memset( &xRx, 0, sizeof( xRx ) );
    memset( xL, 0, sizeof( xL ) );
    iLoopersDone = 0;

    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilConnect( xClient, usTestBrokerPort(), "afr-disc-loop", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_ASSERT( xUtilSubscribe( xClient, "disc/loop/#", eMQTTQoS1, prvSubCallback, &xRx ) == eMQTTAgentSuccess );

    for( int i = 0; i < iN; i++ )
    {
        xL[ i ].xClient = xClient;
        xL[ i ].iIndex = i;
        TEST_ASSERT( xTaskCreate( prvLooperTask, "looper", configMINIMAL_STACK_SIZE * 2, &xL[ i ],
                                  tskIDLE_PRIORITY + 1, NULL ) == pdPASS );
    }

    /* Traffic in both directions before the broker dies. */
    TEST_CHECK( xUtilWaitFor( &xRx.iCount, 50, 5000 ) == pdTRUE );
    TEST_CHECK( iLoopersDone == 0 );
    TickType_t xKillAt = xTaskGetTickCount();
    TEST_ASSERT( prvControl( "broker-kill" ) == pdPASS );
    TickType_t xKilled = xTaskGetTickCount();

    TEST_CHECK_MSG( xUtilWaitFor( &iLoopersDone, iN, LOSS_BOUND ) == pdTRUE, "%d of %d publishing tasks ended within %lu ticks",
                    iLoopersDone, iN, ( unsigned long ) LOSS_BOUND );
    TEST_ASSERT( xUtilWaitFor( &iLoopersDone, iN, LONG_TIMEOUT + 1000 ) == pdTRUE );
    prvExpectDisconnects( &xEv, 1, LOSS_BOUND );

    for( int i = 0; i < iN; i++ )
    {
        TEST_CHECK_MSG( xL[ i ].iOther == 0, "task %d: a publish returned %d", i, ( int ) xL[ i ].xOther );
        TEST_CHECK_MSG( xL[ i ].iSucceeded > 0, "task %d: no publish succeeded", i );
        TEST_CHECK_MSG( xL[ i ].xFailedTook < LOSS_BOUND + ( xKilled - xKillAt ),
                        "task %d: the failing publish took %lu ticks", i, ( unsigned long ) xL[ i ].xFailedTook );
        vTestNote( "task %d: %d publishes succeeded; the failing one took %lu ticks", i, xL[ i ].iSucceeded,
                   ( unsigned long ) xL[ i ].xFailedTook );
    }

    vTestNote( "%d messages received before the broker died", xRx.iCount );
    prvCheckPoolFull();

    TEST_ASSERT( prvControl( "broker-start" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestBrokerPort(), "afr-disc-loop", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTrip( xClient, "disc/loop/#", "disc/loop/again", &xRx, "again" );
    prvEnd( &xClient, pdTRUE );
    TEST_CHECK( xEv.iDisconnects == 1 );
    prvCheckPoolFull();
}

/* 4. CONNACKs that never come, or refuse. No connection was established:
 * no disconnect event. */
static void prvConnAckProblems( void )
{
    static Events_t xEvA, xEvB;
    MQTTAgentHandle_t xA = NULL, xB = NULL;
    char cHex[ 512 ];

    memset( &xEvA, 0, sizeof( xEvA ) );
    memset( &xEvB, 0, sizeof( xEvB ) );
    TEST_ASSERT( MQTT_AGENT_Create( &xA ) == eMQTTAgentSuccess );
    TEST_ASSERT( MQTT_AGENT_Create( &xB ) == eMQTTAgentSuccess );

    /* No CONNACK: the caller's own (short) timeout ends the wait. */
    TEST_ASSERT( prvControl( "fake-script no-connack" ) == pdPASS );
    TickType_t xStart = xTaskGetTickCount();
    MQTTAgentReturnCode_t xRc = xUtilConnect( xA, usTestFakePort(), "afr-disc-noack-a", prvConnectCallback, &xEvA, 500 );
    TickType_t xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xRc == eMQTTAgentTimeout, "connect without CONNACK returned %d", ( int ) xRc );
    TEST_CHECK_MSG( xTook >= 500 && xTook < 600, "connect without CONNACK took %lu ticks", ( unsigned long ) xTook );

    /* The server got a CONNECT. */
    TEST_CHECK( xTestControl( "fake-last-connect", cHex, sizeof( cHex ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK_MSG( strncmp( cHex, "10", 2 ) == 0, "last CONNECT: '%s'", cHex );

    /* No CONNACK, a caller who waits longer than mqttconfigKEEP_ALIVE_TIMEOUT_TICKS:
     * the caller's own time bounds the wait, as in AFR (a timeout, not a
     * failure at the keep-alive timeout). */
    xStart = xTaskGetTickCount();
    xRc = xUtilConnect( xB, usTestFakePort(), "afr-disc-noack-b", prvConnectCallback, &xEvB,
                        mqttconfigKEEP_ALIVE_TIMEOUT_TICKS + 500 );
    xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xRc == eMQTTAgentTimeout, "connect without CONNACK (long wait) returned %d", ( int ) xRc );
    TEST_CHECK_MSG( xTook >= mqttconfigKEEP_ALIVE_TIMEOUT_TICKS + 500 && xTook < mqttconfigKEEP_ALIVE_TIMEOUT_TICKS + 700,
                    "connect without CONNACK failed after %lu ticks", ( unsigned long ) xTook );

    /* Refused (5: not authorised): a failure, promptly. */
    TEST_ASSERT( prvControl( "fake-script refuse-connack 5" ) == pdPASS );
    xStart = xTaskGetTickCount();
    xRc = xUtilConnect( xB, usTestFakePort(), "afr-disc-refused", prvConnectCallback, &xEvB, LONG_TIMEOUT );
    xTook = xTaskGetTickCount() - xStart;
    TEST_CHECK_MSG( xRc == eMQTTAgentFailure, "refused connect returned %d", ( int ) xRc );
    TEST_CHECK_MSG( xTook < PROMPT_BOUND, "refused connect took %lu ticks", ( unsigned long ) xTook );

    /* The server closes while the connect waits for its CONNACK (FIN). */
    static Blocked_t xW;
    memset( &xW, 0, sizeof( xW ) );
    prvResetBlocked();
    TEST_ASSERT( prvControl( "fake-script no-connack" ) == pdPASS );
    xW.eOp = eOpConnect;
    xW.xClient = xB;
    xW.usPort = usTestFakePort();
    xW.pxEvents = &xEvB;
    snprintf( xW.cTopic, sizeof( xW.cTopic ), "afr-disc-fin" );
    prvStartBlocked( &xW );
    TEST_ASSERT( xUtilWaitFor( &iBlockedStarted, 1, 1000 ) == pdTRUE );
    vTaskDelay( 200 ); /* The CONNECT reaches the server. */
    TEST_CHECK( iBlockedDone == 0 );
    TickType_t xClosedAt = xTaskGetTickCount();
    TEST_ASSERT( prvControl( "fake-close" ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &iBlockedDone, 1, PROMPT_BOUND ) == pdTRUE );
    TEST_ASSERT( xUtilWaitFor( &iBlockedDone, 1, LONG_TIMEOUT + 1000 ) == pdTRUE );
    TEST_CHECK_MSG( xW.xResult == eMQTTAgentFailure, "connect closed before CONNACK returned %d", ( int ) xW.xResult );
    TEST_CHECK_MSG( xW.xReturnedAt - xClosedAt < PROMPT_BOUND, "connect closed before CONNACK returned %lu ticks after the close",
                    ( unsigned long ) ( xW.xReturnedAt - xClosedAt ) );

    vTaskDelay( 100 );
    TEST_CHECK_MSG( xEvA.iDisconnects == 0 && xEvB.iDisconnects == 0, "disconnect events %d, %d for connects that failed",
                    xEvA.iDisconnects, xEvB.iDisconnects );
    prvCheckPoolFull();

    /* Both handles connect again (A's abandoned attempt has expired by now:
     * it started before B's). */
    TEST_ASSERT( prvControl( "fake-script normal-connack" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xA, usTestFakePort(), "afr-disc-noack-a", prvConnectCallback, &xEvA, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xA, "disc/ack", eMQTTQoS1, "a", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xA, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilConnect( xB, usTestFakePort(), "afr-disc-noack-b", prvConnectCallback, &xEvB, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xB, "disc/ack", eMQTTQoS2, "b", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvEnd( &xB, pdTRUE );
    prvEnd( &xA, pdFALSE );
    TEST_CHECK( xEvA.iDisconnects == 0 && xEvB.iDisconnects == 0 );
    prvCheckPoolFull();
}

/* After everything: every client slot is free again. */
static void prvLateConnAckAfterTimeout( void )
{
    static Events_t xEv;
    MQTTAgentHandle_t xClient = NULL;

    /* The connect times out before its CONNACK; the CONNACK arrives later. The
     * application was told "timeout", so the agent closes that late connection
     * again: a retried connect works, and no disconnect event is reported. */
    memset( &xEv, 0, sizeof( xEv ) );
    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );
    TEST_ASSERT( prvControl( "relay-freeze" ) == pdPASS );
    TEST_CHECK( xUtilConnect( xClient, usTestRelayPort(), "afr-disc-late", prvConnectCallback, &xEv, 300 ) == eMQTTAgentTimeout );
    TEST_ASSERT( prvControl( "relay-thaw" ) == pdPASS );
    vTaskDelay( 300 );
    TEST_CHECK( xUtilPublish( xClient, "disc/late", eMQTTQoS1, "x", 1, 500 ) == eMQTTAgentFailure );
    TEST_CHECK( xUtilConnect( xClient, usTestRelayPort(), "afr-disc-late", prvConnectCallback, &xEv, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "disc/late", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xEv.iDisconnects == 0 );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Delete( xClient ) == eMQTTAgentSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvNothingLeft( void )
{
    MQTTAgentHandle_t xHandles[ mqttconfigMAX_BROKERS ];
    int n = 0;

    while( n < mqttconfigMAX_BROKERS && MQTT_AGENT_Create( &xHandles[ n ] ) == eMQTTAgentSuccess )
    {
        n++;
    }

    TEST_CHECK_MSG( n == mqttconfigMAX_BROKERS, "only %d clients could be created", n );

    for( int i = 0; i < n; i++ )
    {
        TEST_CHECK( MQTT_AGENT_Delete( xHandles[ i ] ) == eMQTTAgentSuccess );
    }

    prvCheckPoolFull();
}

static void prvBody( void )
{
    vTestRun( "broker_stopped_mid_session", prvBrokerStopped );
    vTestRun( "broker_killed_with_held_buffer", prvBrokerKilledWithHeldBuffer );
    vTestRun( "publishing_while_broker_killed", prvPublishingWhileBrokerKilled );
    vTestRun( "client_id_takeover", prvClientIdTakeover );
    vTestRun( "blocked_callers_fail_promptly", prvBlockedCallersFailPromptly );
    vTestRun( "requested_disconnect_with_blocked_callers", prvRequestedDisconnectWithBlockedCallers );
    vTestRun( "blocked_subscribe_fails", prvBlockedSubscribeFails );
    vTestRun( "pending_connect_reset", prvPendingConnectReset );
    vTestRun( "server_breaks_session", prvServerBreaksSession );
    vTestRun( "delete_after_loss", prvDeleteAfterLoss );
    vTestRun( "partial_publish_then_close", prvPartialPublishThenClose );
    vTestRun( "inbound_qos2_across_loss", prvInboundQoS2AcrossLoss );
    vTestRun( "loss_without_callback", prvLossWithoutCallback );
    vTestRun( "connack_problems", prvConnAckProblems );
    vTestRun( "late_connack_after_timeout", prvLateConnAckAfterTimeout );
    vTestRun( "nothing_left", prvNothingLeft );
    vTestFinish();
}

int main( void )
{
    vUtilAgentTestMain( prvBody, 240000 );
}
