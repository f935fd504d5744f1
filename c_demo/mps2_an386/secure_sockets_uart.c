/*
 * The AFR v1.4.7 Secure Sockets API on the MPS2 AN386 board: TCP sockets
 * through UART1 to the host bridge (tests/tools/uart_bridge.py), the way AFR
 * boards with AT-command Wi-Fi modules reach the network. The protocol, the
 * limits and the behaviour of each call are in README.md; the behaviour
 * follows the simulator's port (c_demo/secure_sockets/README.md) so that the
 * library sees the same port on both.
 *
 * Tasks: a link task (created on first use) parses frames from the UART's
 * receive ring, fills each socket's receive ring, completes connects and
 * look-ups and calls the wake-up callbacks. Callers' tasks send frames under a
 * transmit lock. No socket call blocks the link task.
 */
#include <string.h>

#include "FreeRTOS.h"
#include "semphr.h"
#include "task.h"

#include "aws_secure_sockets.h"

#include "board.h"
#include "uart.h"

#ifndef uartsocketsMAX_SOCKETS
    #define uartsocketsMAX_SOCKETS          ( 8 )
#endif
#ifndef uartsocketsRX_RING_SIZE /* Bytes per socket; the window the bridge gets. */
    #define uartsocketsRX_RING_SIZE         ( 2048U )
#endif
#ifndef uartsocketsLINK_TASK_PRIORITY
    #define uartsocketsLINK_TASK_PRIORITY    ( configMAX_PRIORITIES - 2 )
#endif
#ifndef uartsocketsLINK_TASK_STACK
    #define uartsocketsLINK_TASK_STACK       ( configMINIMAL_STACK_SIZE )
#endif
#define uartsocketsHELLO_TIMEOUT            pdMS_TO_TICKS( 5000 )
#define uartsocketsRESOLVE_TIMEOUT          pdMS_TO_TICKS( 5000 )

/* ---- Frames (README.md) --------------------------------------------------- */

#define FRAME_START             0xA5U
#define FRAME_HEADER            5U
#define FRAME_MAX_PAYLOAD       1024U
#define NO_SOCKET               0xFFU
#define PROTOCOL_VERSION        1U

#define TYPE_HELLO              0x01U
#define TYPE_CONNECT            0x02U
#define TYPE_SEND               0x03U
#define TYPE_CLOSE              0x04U
#define TYPE_WINDOW             0x05U
#define TYPE_RESOLVE            0x06U
#define TYPE_HELLO_ACK          0x81U
#define TYPE_CONNECT_RESULT     0x82U
#define TYPE_DATA               0x83U
#define TYPE_HANGUP             0x84U
#define TYPE_CLOSE_ACK          0x85U
#define TYPE_RESOLVE_RESULT     0x86U

#define CONNECT_PENDING         0xFFU

/* ---- Sockets ---------------------------------------------------------------- */

typedef enum
{
    SLOT_FREE,       /* Unused. */
    SLOT_OPEN,       /* SOCKETS_Socket gave it out; no CONNECT yet. */
    SLOT_CONNECTING, /* CONNECT sent, waiting for CONNECT_RESULT. */
    SLOT_CONNECTED,
    SLOT_FAILED,     /* The connect failed or timed out: only Close is left. */
    SLOT_CLOSING     /* Closed by the application; waiting for CLOSE_ACK. */
} SlotState_t;

typedef struct UartSocket
{
    uint32_t ulMagic; /* SOCKET_MAGIC while handed out: catches stale handles. */
    uint8_t ucNumber;
    volatile uint8_t ucState;
    volatile uint8_t ucConnectStatus;
    volatile BaseType_t xPeerClosed;
    BaseType_t xConnectSent; /* The bridge knows this number until CLOSE_ACK. */
    BaseType_t xShutRead;
    BaseType_t xShutWrite;
    BaseType_t xNonBlocking;
    TickType_t xRecvTimeout;
    TickType_t xSendTimeout;
    /* Receive ring: the link task writes ulHead, the owner reads ulTail. */
    uint8_t ucRing[ uartsocketsRX_RING_SIZE ];
    volatile uint32_t ulHead;
    volatile uint32_t ulTail;
    uint32_t ulConsumed; /* Read since the last WINDOW. */
    void ( * pxWakeup )( Socket_t );
    BaseType_t xArmed;
    SemaphoreHandle_t xEvent; /* Given when data, a close or a result comes. */
} UartSocket_t;

#define SOCKET_MAGIC    0x55A27C01UL

static UartSocket_t xSockets[ uartsocketsMAX_SOCKETS ];

/* ---- The link --------------------------------------------------------------- */

static volatile BaseType_t xInitState = 0; /* 0 not started, 1 starting, 2 done. */
static volatile BaseType_t xLinkUp = pdFALSE;
static volatile BaseType_t xLinkDead = pdFALSE;
static TaskHandle_t xLinkTask = NULL;
static SemaphoreHandle_t xTxLock = NULL;       /* One frame at a time on the line. */
static SemaphoreHandle_t xCallbackLock = NULL; /* Recursive: wake-up callbacks, Close. */
static SemaphoreHandle_t xResolveLock = NULL;  /* One RESOLVE at a time. */
static SemaphoreHandle_t xLinkEvent = NULL;    /* HELLO_ACK, RESOLVE_RESULT. */
static volatile uint32_t ulResolved = 0;
static volatile BaseType_t xResolveDone = pdFALSE;

static struct
{
    uint32_t ulFramesOut, ulBytesOut, ulFramesIn, ulBytesIn, ulConnects;
} xStats;

static void prvSendFrame( uint8_t ucType,
                          uint8_t ucSocket,
                          const void * pvHead,
                          size_t xHeadLength,
                          const void * pvBody,
                          size_t xBodyLength )
{
    size_t xLength = xHeadLength + xBodyLength;
    uint8_t ucHeader[ FRAME_HEADER ] =
    {
        FRAME_START, ucType, ucSocket, ( uint8_t ) ( xLength & 0xFFU ), ( uint8_t ) ( xLength >> 8 )
    };

    ( void ) xSemaphoreTake( xTxLock, portMAX_DELAY );
    vUartWrite( ucHeader, sizeof( ucHeader ) );
    vUartWrite( pvHead, xHeadLength );
    vUartWrite( pvBody, xBodyLength );
    xStats.ulFramesOut++;
    xStats.ulBytesOut += ( uint32_t ) ( FRAME_HEADER + xLength );
    ( void ) xSemaphoreGive( xTxLock );
}

/* Calls the socket's wake-up callback if it is armed (edge-triggered, as the
 * simulator's port: README.md). */
static void prvWake( UartSocket_t * pxSocket )
{
    ( void ) xSemaphoreTakeRecursive( xCallbackLock, portMAX_DELAY );

    if( ( pxSocket->pxWakeup != NULL ) && ( pxSocket->xArmed == pdTRUE ) )
    {
        pxSocket->xArmed = pdFALSE;
        pxSocket->pxWakeup( ( Socket_t ) pxSocket );
    }

    ( void ) xSemaphoreGiveRecursive( xCallbackLock );
}

static void prvSignal( UartSocket_t * pxSocket )
{
    ( void ) xSemaphoreGive( pxSocket->xEvent );
    prvWake( pxSocket );
}

/* The link is broken (a protocol error): every socket sees its connection
 * closed; calls fail from now on. */
static void prvLinkFailed( const char * pcWhy,
                           uint32_t ulValue )
{
    static const char cPrefix[] = "uart sockets: link failed: ";

    vBoardWrite( cPrefix, sizeof( cPrefix ) - 1 );
    vBoardWrite( pcWhy, strlen( pcWhy ) );
    vBoardWrite( "\n", 1 );
    ( void ) ulValue;
    xLinkDead = pdTRUE;

    for( size_t i = 0; i < uartsocketsMAX_SOCKETS; i++ )
    {
        xSockets[ i ].xPeerClosed = pdTRUE;

        if( xSockets[ i ].ucConnectStatus == CONNECT_PENDING )
        {
            xSockets[ i ].ucConnectStatus = 4;
        }

        prvSignal( &xSockets[ i ] );
    }

    ( void ) xSemaphoreGive( xLinkEvent );
}

/* ---- Frame parser (link task) --------------------------------------------- */

static struct
{
    uint8_t ucHeader[ FRAME_HEADER ];
    size_t xHeaderHave;
    size_t xPayloadLength;
    size_t xPayloadHave;
    uint8_t ucSmall[ 8 ]; /* Payload of every frame but DATA. */
} xParser;

static BaseType_t prvHeaderValid( uint8_t ucType,
                                  uint8_t ucSocket,
                                  size_t xLength )
{
    BaseType_t xNeedsSocket = ( ucType != TYPE_HELLO_ACK ) && ( ucType != TYPE_RESOLVE_RESULT );

    if( xNeedsSocket && ( ucSocket >= uartsocketsMAX_SOCKETS ) )
    {
        return pdFALSE;
    }

    switch( ucType )
    {
        case TYPE_HELLO_ACK:      return xLength == 1;
        case TYPE_CONNECT_RESULT: return xLength == 1;
        case TYPE_HANGUP:         return xLength == 0;
        case TYPE_CLOSE_ACK:      return xLength == 0;
        case TYPE_RESOLVE_RESULT: return xLength == 4;
        case TYPE_DATA:
            /* The bridge keeps to its credit: the data always fits the ring. */
            return ( xLength > 0 ) && ( xLength <= FRAME_MAX_PAYLOAD ) &&
                   ( xLength <= uartsocketsRX_RING_SIZE - ( xSockets[ ucSocket ].ulHead - xSockets[ ucSocket ].ulTail ) );
        default:                  return pdFALSE;
    }
}

static void prvFrameDone( uint8_t ucType,
                          UartSocket_t * pxSocket )
{
    const uint8_t * pucPayload = xParser.ucSmall;

    switch( ucType )
    {
        case TYPE_HELLO_ACK:
            xLinkUp = pdTRUE;
            ( void ) xSemaphoreGive( xLinkEvent );
            break;

        case TYPE_CONNECT_RESULT:

            /* A result for a connect the caller gave up on (now closing) is
             * dropped; the CLOSE_ACK that follows frees the number. */
            if( pxSocket->ucState == SLOT_CONNECTING )
            {
                pxSocket->ucConnectStatus = pucPayload[ 0 ];
                pxSocket->ucState = ( pucPayload[ 0 ] == 0 ) ? SLOT_CONNECTED : SLOT_FAILED;
                ( void ) xSemaphoreGive( pxSocket->xEvent );
            }

            break;

        case TYPE_DATA:
            prvSignal( pxSocket );
            break;

        case TYPE_HANGUP:
            pxSocket->xPeerClosed = pdTRUE;
            prvSignal( pxSocket );
            break;

        case TYPE_CLOSE_ACK:

            if( pxSocket->ucState == SLOT_CLOSING )
            {
                pxSocket->ucState = SLOT_FREE;
            }

            break;

        case TYPE_RESOLVE_RESULT:
            memcpy( ( void * ) &ulResolved, pucPayload, 4 ); /* Network byte order, as it came. */
            xResolveDone = pdTRUE;
            ( void ) xSemaphoreGive( xLinkEvent );
            break;

        default:
            break;
    }
}

static void prvParse( const uint8_t * pucData,
                      size_t xLength )
{
    size_t i = 0;

    while( ( i < xLength ) && ( xLinkDead == pdFALSE ) )
    {
        if( xParser.xHeaderHave < FRAME_HEADER )
        {
            xParser.ucHeader[ xParser.xHeaderHave++ ] = pucData[ i++ ];

            if( xParser.xHeaderHave == 1 && xParser.ucHeader[ 0 ] != FRAME_START )
            {
                prvLinkFailed( "bad start of frame", xParser.ucHeader[ 0 ] );
                return;
            }

            if( xParser.xHeaderHave < FRAME_HEADER )
            {
                continue;
            }

            xParser.xPayloadLength = ( size_t ) xParser.ucHeader[ 3 ] | ( ( size_t ) xParser.ucHeader[ 4 ] << 8 );
            xParser.xPayloadHave = 0;

            if( prvHeaderValid( xParser.ucHeader[ 1 ], xParser.ucHeader[ 2 ], xParser.xPayloadLength ) == pdFALSE )
            {
                prvLinkFailed( "bad frame header", xParser.ucHeader[ 1 ] );
                return;
            }
        }

        uint8_t ucType = xParser.ucHeader[ 1 ];
        UartSocket_t * pxSocket = ( xParser.ucHeader[ 2 ] < uartsocketsMAX_SOCKETS ) ? &xSockets[ xParser.ucHeader[ 2 ] ] : NULL;
        size_t xTake = xParser.xPayloadLength - xParser.xPayloadHave;

        if( xTake > xLength - i )
        {
            xTake = xLength - i;
        }

        if( ucType == TYPE_DATA )
        {
            for( size_t k = 0; k < xTake; k++ )
            {
                pxSocket->ucRing[ ( pxSocket->ulHead + k ) % uartsocketsRX_RING_SIZE ] = pucData[ i + k ];
            }

            __asm volatile ( "dmb" ::: "memory" );
            pxSocket->ulHead += ( uint32_t ) xTake;
        }
        else
        {
            memcpy( &xParser.ucSmall[ xParser.xPayloadHave ], &pucData[ i ], xTake );
        }

        i += xTake;
        xParser.xPayloadHave += xTake;

        if( xParser.xPayloadHave == xParser.xPayloadLength )
        {
            xStats.ulFramesIn++;
            xStats.ulBytesIn += ( uint32_t ) ( FRAME_HEADER + xParser.xPayloadLength );
            xParser.xHeaderHave = 0;
            prvFrameDone( ucType, pxSocket );
        }
    }
}

static void prvLinkTask( void * pvParameters )
{
    static uint8_t ucChunk[ 256 ];
    size_t xGot;

    ( void ) pvParameters;

    for( ; ; )
    {
        ( void ) ulTaskNotifyTake( pdTRUE, portMAX_DELAY );

        while( ( xGot = xUartRead( ucChunk, sizeof( ucChunk ) ) ) > 0 )
        {
            prvParse( ucChunk, xGot );
        }
    }
}

/* Starts the link once: locks, the link task, the UART, HELLO. Tasks that
 * come while another starts it wait for the outcome. */
static BaseType_t prvLinkStart( void )
{
    BaseType_t xMine = pdFALSE;

    taskENTER_CRITICAL();

    if( xInitState == 0 )
    {
        xInitState = 1;
        xMine = pdTRUE;
    }

    taskEXIT_CRITICAL();

    if( xMine == pdFALSE )
    {
        while( xInitState != 2 )
        {
            vTaskDelay( 1 );
        }

        return ( xLinkUp == pdTRUE && xLinkDead == pdFALSE ) ? pdPASS : pdFAIL;
    }

    xTxLock = xSemaphoreCreateMutex();
    xCallbackLock = xSemaphoreCreateRecursiveMutex();
    xResolveLock = xSemaphoreCreateMutex();
    xLinkEvent = xSemaphoreCreateBinary();
    BaseType_t xOk = ( xTxLock != NULL ) && ( xCallbackLock != NULL ) && ( xResolveLock != NULL ) && ( xLinkEvent != NULL );

    for( size_t i = 0; xOk && ( i < uartsocketsMAX_SOCKETS ); i++ )
    {
        xSockets[ i ].ucNumber = ( uint8_t ) i;
        xSockets[ i ].xEvent = xSemaphoreCreateBinary();
        xOk = xSockets[ i ].xEvent != NULL;
    }

    if( xOk && ( xTaskCreate( prvLinkTask, "UartLink", uartsocketsLINK_TASK_STACK, NULL,
                              uartsocketsLINK_TASK_PRIORITY, &xLinkTask ) == pdPASS ) )
    {
        const uint16_t usWindow = ( uint16_t ) uartsocketsRX_RING_SIZE;
        const uint8_t ucHello[ 4 ] =
        {
            PROTOCOL_VERSION, uartsocketsMAX_SOCKETS, ( uint8_t ) ( usWindow & 0xFFU ), ( uint8_t ) ( usWindow >> 8 )
        };

        vUartInit( xLinkTask );
        prvSendFrame( TYPE_HELLO, NO_SOCKET, ucHello, sizeof( ucHello ), NULL, 0 );
        ( void ) xSemaphoreTake( xLinkEvent, uartsocketsHELLO_TIMEOUT );
    }

    if( xLinkUp == pdFALSE )
    {
        static const char cMessage[] = "uart sockets: no answer from the bridge on UART1\n";
        vBoardWrite( cMessage, sizeof( cMessage ) - 1 );
        xLinkDead = pdTRUE;
    }

    xInitState = 2;
    return ( xLinkUp == pdTRUE && xLinkDead == pdFALSE ) ? pdPASS : pdFAIL;
}

/* The exit report's lines for the link (board.c calls this weak hook). */
void vBoardNetworkReport( void )
{
    vBoardFigure( "uart.frames_out", xStats.ulFramesOut );
    vBoardFigure( "uart.bytes_out", xStats.ulBytesOut );
    vBoardFigure( "uart.frames_in", xStats.ulFramesIn );
    vBoardFigure( "uart.bytes_in", xStats.ulBytesIn );
    vBoardFigure( "uart.connects", xStats.ulConnects );
    vBoardFigure( "uart.rx_ring_high_water", ulUartRingHighWater() );
}

/* ---- The Secure Sockets API ------------------------------------------------ */

static UartSocket_t * prvSocket( Socket_t xSocket )
{
    UartSocket_t * pxSocket = ( UartSocket_t * ) xSocket;

    if( ( pxSocket < &xSockets[ 0 ] ) || ( pxSocket >= &xSockets[ uartsocketsMAX_SOCKETS ] ) ||
        ( ( ( uintptr_t ) pxSocket - ( uintptr_t ) &xSockets[ 0 ] ) % sizeof( UartSocket_t ) != 0 ) ||
        ( pxSocket->ulMagic != SOCKET_MAGIC ) )
    {
        return NULL;
    }

    return pxSocket;
}

BaseType_t SOCKETS_Init( void )
{
    return prvLinkStart();
}

Socket_t SOCKETS_Socket( int32_t lDomain,
                         int32_t lType,
                         int32_t lProtocol )
{
    UartSocket_t * pxSocket = NULL;

    if( ( lDomain != SOCKETS_AF_INET ) || ( lType != SOCKETS_SOCK_STREAM ) || ( lProtocol != SOCKETS_IPPROTO_TCP ) ||
        ( prvLinkStart() != pdPASS ) )
    {
        return SOCKETS_INVALID_SOCKET;
    }

    taskENTER_CRITICAL();

    for( size_t i = 0; i < uartsocketsMAX_SOCKETS; i++ )
    {
        if( xSockets[ i ].ucState == SLOT_FREE )
        {
            pxSocket = &xSockets[ i ];
            pxSocket->ucState = SLOT_OPEN;
            break;
        }
    }

    taskEXIT_CRITICAL();

    if( pxSocket == NULL )
    {
        return SOCKETS_INVALID_SOCKET;
    }

    pxSocket->ucConnectStatus = CONNECT_PENDING;
    pxSocket->xPeerClosed = pdFALSE;
    pxSocket->xConnectSent = pdFALSE;
    pxSocket->xShutRead = pdFALSE;
    pxSocket->xShutWrite = pdFALSE;
    pxSocket->xNonBlocking = pdFALSE;
    pxSocket->xRecvTimeout = socketsconfigDEFAULT_RECV_TIMEOUT;
    pxSocket->xSendTimeout = socketsconfigDEFAULT_SEND_TIMEOUT;
    pxSocket->ulHead = 0;
    pxSocket->ulTail = 0;
    pxSocket->ulConsumed = 0;
    pxSocket->pxWakeup = NULL;
    pxSocket->xArmed = pdFALSE;
    ( void ) xSemaphoreTake( pxSocket->xEvent, 0 );
    pxSocket->ulMagic = SOCKET_MAGIC;
    return ( Socket_t ) pxSocket;
}

/* Waits for the socket's event until xDeadlineStart + xTimeout; 0 = forever.
 * pdFALSE when the time is up. */
static BaseType_t prvWait( UartSocket_t * pxSocket,
                           TickType_t xStart,
                           TickType_t xTimeout )
{
    TickType_t xElapsed = xTaskGetTickCount() - xStart;

    if( xTimeout == 0 )
    {
        ( void ) xSemaphoreTake( pxSocket->xEvent, portMAX_DELAY );
        return pdTRUE;
    }

    if( xElapsed >= xTimeout )
    {
        return pdFALSE;
    }

    ( void ) xSemaphoreTake( pxSocket->xEvent, xTimeout - xElapsed );
    return pdTRUE;
}

int32_t SOCKETS_Connect( Socket_t xSocket,
                         SocketsSockaddr_t * pxAddress,
                         Socklen_t xAddressLength )
{
    UartSocket_t * pxSocket = prvSocket( xSocket );
    TickType_t xStart = xTaskGetTickCount();
    uint8_t ucTarget[ 6 ];

    ( void ) xAddressLength; /* Not checked, as in AFR's ports. */

    if( ( pxSocket == NULL ) || ( pxAddress == NULL ) ||
        ( ( pxAddress->ucSocketDomain != SOCKETS_AF_INET ) && ( pxAddress->ucSocketDomain != 0 ) ) )
    {
        return SOCKETS_EINVAL;
    }

    if( pxSocket->ucState == SLOT_CONNECTED )
    {
        return SOCKETS_EISCONN;
    }

    if( ( pxSocket->ucState != SLOT_OPEN ) || ( xLinkDead == pdTRUE ) )
    {
        return SOCKETS_SOCKET_ERROR;
    }

    memcpy( &ucTarget[ 0 ], &pxAddress->ulAddress, 4 ); /* Network byte order in memory. */
    memcpy( &ucTarget[ 4 ], &pxAddress->usPort, 2 );
    pxSocket->ucConnectStatus = CONNECT_PENDING;
    pxSocket->xConnectSent = pdTRUE;
    pxSocket->ucState = SLOT_CONNECTING;
    xStats.ulConnects++;
    prvSendFrame( TYPE_CONNECT, pxSocket->ucNumber, ucTarget, sizeof( ucTarget ), NULL, 0 );

    /* Always waits (also with SOCKETS_SO_NONBLOCK), at most the send timeout. */
    while( pxSocket->ucConnectStatus == CONNECT_PENDING )
    {
        if( prvWait( pxSocket, xStart, pxSocket->xSendTimeout ) == pdFALSE )
        {
            taskENTER_CRITICAL();

            if( pxSocket->ucState == SLOT_CONNECTING )
            {
                pxSocket->ucState = SLOT_FAILED;
            }

            taskEXIT_CRITICAL();
            break;
        }
    }

    return ( pxSocket->ucState == SLOT_CONNECTED ) ? SOCKETS_ERROR_NONE : SOCKETS_SOCKET_ERROR;
}

/* Arms the wake-up callback again after a Recv; if data or a close is already
 * waiting, calls it now, so that nothing waits for an arrival that already
 * happened. */
static void prvRearm( UartSocket_t * pxSocket )
{
    ( void ) xSemaphoreTakeRecursive( xCallbackLock, portMAX_DELAY );
    pxSocket->xArmed = pdTRUE;

    if( ( pxSocket->ulHead != pxSocket->ulTail ) || ( pxSocket->xPeerClosed == pdTRUE ) )
    {
        prvWake( pxSocket );
    }

    ( void ) xSemaphoreGiveRecursive( xCallbackLock );
}

int32_t SOCKETS_Recv( Socket_t xSocket,
                      void * pvBuffer,
                      size_t xBufferLength,
                      uint32_t ulFlags )
{
    UartSocket_t * pxSocket = prvSocket( xSocket );
    TickType_t xStart = xTaskGetTickCount();
    uint8_t * pucBuffer = ( uint8_t * ) pvBuffer;

    ( void ) ulFlags;

    if( ( pxSocket == NULL ) || ( pvBuffer == NULL ) )
    {
        return SOCKETS_EINVAL;
    }

    if( pxSocket->ucState != SLOT_CONNECTED )
    {
        return SOCKETS_ENOTCONN;
    }

    for( ; ; )
    {
        uint32_t ulHead = pxSocket->ulHead;
        uint32_t ulAvailable = ulHead - pxSocket->ulTail;

        __asm volatile ( "dmb" ::: "memory" );

        if( pxSocket->xShutRead == pdTRUE )
        {
            return SOCKETS_ECLOSED;
        }

        if( ulAvailable > 0 )
        {
            size_t xCount = ( ulAvailable < xBufferLength ) ? ulAvailable : xBufferLength;

            for( size_t i = 0; i < xCount; i++ )
            {
                pucBuffer[ i ] = pxSocket->ucRing[ ( pxSocket->ulTail + i ) % uartsocketsRX_RING_SIZE ];
            }

            pxSocket->ulTail += ( uint32_t ) xCount;
            pxSocket->ulConsumed += ( uint32_t ) xCount;

            /* Room is given back in halves: few WINDOW frames, and the bridge
             * never waits long for credit. */
            if( ( pxSocket->ulConsumed >= uartsocketsRX_RING_SIZE / 2 ) && ( xLinkDead == pdFALSE ) )
            {
                uint8_t ucCredit[ 2 ] = { ( uint8_t ) ( pxSocket->ulConsumed & 0xFFU ), ( uint8_t ) ( pxSocket->ulConsumed >> 8 ) };
                pxSocket->ulConsumed = 0;
                prvSendFrame( TYPE_WINDOW, pxSocket->ucNumber, ucCredit, sizeof( ucCredit ), NULL, 0 );
            }

            prvRearm( pxSocket );
            return ( int32_t ) xCount;
        }

        if( ( pxSocket->xPeerClosed == pdTRUE ) || ( xLinkDead == pdTRUE ) )
        {
            prvRearm( pxSocket );
            return SOCKETS_ECLOSED;
        }

        if( ( pxSocket->xNonBlocking == pdTRUE ) || ( prvWait( pxSocket, xStart, pxSocket->xRecvTimeout ) == pdFALSE ) )
        {
            prvRearm( pxSocket );
            return 0;
        }
    }
}

int32_t SOCKETS_Send( Socket_t xSocket,
                      const void * pvBuffer,
                      size_t xDataLength,
                      uint32_t ulFlags )
{
    UartSocket_t * pxSocket = prvSocket( xSocket );
    const uint8_t * pucData = ( const uint8_t * ) pvBuffer;
    size_t xSent = 0;

    ( void ) ulFlags;

    if( ( pxSocket == NULL ) || ( ( pvBuffer == NULL ) && ( xDataLength > 0 ) ) )
    {
        return SOCKETS_EINVAL;
    }

    if( pxSocket->ucState != SLOT_CONNECTED )
    {
        return SOCKETS_ENOTCONN;
    }

    if( ( pxSocket->xPeerClosed == pdTRUE ) || ( pxSocket->xShutWrite == pdTRUE ) || ( xLinkDead == pdTRUE ) )
    {
        return SOCKETS_ECLOSED;
    }

    /* The line takes every byte (the bridge reads as fast as the connection
     * drains): the whole buffer goes out, in frames of at most 1024 bytes. */
    while( xSent < xDataLength )
    {
        size_t xChunk = xDataLength - xSent;

        if( xChunk > FRAME_MAX_PAYLOAD )
        {
            xChunk = FRAME_MAX_PAYLOAD;
        }

        prvSendFrame( TYPE_SEND, pxSocket->ucNumber, &pucData[ xSent ], xChunk, NULL, 0 );
        xSent += xChunk;
    }

    return ( int32_t ) xSent;
}

int32_t SOCKETS_Shutdown( Socket_t xSocket,
                          uint32_t ulHow )
{
    UartSocket_t * pxSocket = prvSocket( xSocket );

    if( pxSocket == NULL )
    {
        return SOCKETS_EINVAL;
    }

    if( pxSocket->ucState != SLOT_CONNECTED )
    {
        return SOCKETS_ENOTCONN;
    }

    switch( ulHow )
    {
        case SOCKETS_SHUT_RD:   pxSocket->xShutRead = pdTRUE; break;
        case SOCKETS_SHUT_WR:   pxSocket->xShutWrite = pdTRUE; break;
        case SOCKETS_SHUT_RDWR: pxSocket->xShutRead = pdTRUE; pxSocket->xShutWrite = pdTRUE; break;
        default:                return SOCKETS_EINVAL;
    }

    ( void ) xSemaphoreGive( pxSocket->xEvent );
    return SOCKETS_ERROR_NONE;
}

int32_t SOCKETS_Close( Socket_t xSocket )
{
    UartSocket_t * pxSocket = prvSocket( xSocket );

    if( pxSocket == NULL )
    {
        return SOCKETS_EINVAL;
    }

    /* Under the callback lock: once Close returns, no callback runs. */
    ( void ) xSemaphoreTakeRecursive( xCallbackLock, portMAX_DELAY );
    pxSocket->pxWakeup = NULL;
    pxSocket->xArmed = pdFALSE;
    pxSocket->ulMagic = 0;

    if( ( pxSocket->xConnectSent == pdTRUE ) && ( xLinkDead == pdFALSE ) )
    {
        /* The number is free again when the bridge's CLOSE_ACK comes. */
        pxSocket->ucState = SLOT_CLOSING;
        prvSendFrame( TYPE_CLOSE, pxSocket->ucNumber, NULL, 0, NULL, 0 );
    }
    else
    {
        pxSocket->ucState = SLOT_FREE;
    }

    ( void ) xSemaphoreGiveRecursive( xCallbackLock );
    return SOCKETS_ERROR_NONE;
}

int32_t SOCKETS_SetSockOpt( Socket_t xSocket,
                            int32_t lLevel,
                            int32_t lOptionName,
                            const void * pvOptionValue,
                            size_t xOptionLength )
{
    UartSocket_t * pxSocket = prvSocket( xSocket );

    ( void ) lLevel;

    if( pxSocket == NULL )
    {
        return SOCKETS_EINVAL;
    }

    switch( lOptionName )
    {
        case SOCKETS_SO_RCVTIMEO:
        case SOCKETS_SO_SNDTIMEO:

            if( ( pvOptionValue == NULL ) || ( xOptionLength < sizeof( TickType_t ) ) )
            {
                return SOCKETS_EINVAL;
            }

            if( lOptionName == SOCKETS_SO_RCVTIMEO )
            {
                pxSocket->xRecvTimeout = *( const TickType_t * ) pvOptionValue;
            }
            else
            {
                pxSocket->xSendTimeout = *( const TickType_t * ) pvOptionValue;
            }

            return SOCKETS_ERROR_NONE;

        case SOCKETS_SO_NONBLOCK:
            pxSocket->xNonBlocking = pdTRUE;
            return SOCKETS_ERROR_NONE;

        case SOCKETS_SO_WAKEUP_CALLBACK:

            if( ( pvOptionValue != NULL ) && ( xOptionLength != sizeof( void * ) ) )
            {
                return SOCKETS_EINVAL;
            }

            ( void ) xSemaphoreTakeRecursive( xCallbackLock, portMAX_DELAY );
            /* The option's value is the function pointer itself (AFR's rule). */
            pxSocket->pxWakeup = ( void ( * )( Socket_t ) )( uintptr_t ) pvOptionValue;
            pxSocket->xArmed = ( pvOptionValue != NULL ) ? pdTRUE : pdFALSE;
            ( void ) xSemaphoreGiveRecursive( xCallbackLock );
            return SOCKETS_ERROR_NONE;

        default:
            /* TLS options included: TLS is the library's, above this port. */
            return SOCKETS_ENOPROTOOPT;
    }
}

/* Dotted quad to network byte order; 0 when pcName is not one. */
static uint32_t prvDottedQuad( const char * pcName )
{
    uint8_t ucParts[ 4 ];
    uint32_t ulAddress;
    int iPart = 0;
    uint32_t ulValue = 0;
    int iDigits = 0;

    for( const char * pc = pcName; ; pc++ )
    {
        if( ( *pc >= '0' ) && ( *pc <= '9' ) && ( iDigits < 3 ) )
        {
            ulValue = ulValue * 10U + ( uint32_t ) ( *pc - '0' );
            iDigits++;
            continue;
        }

        if( ( iDigits == 0 ) || ( ulValue > 255U ) || ( iPart > 3 ) )
        {
            return 0;
        }

        ucParts[ iPart++ ] = ( uint8_t ) ulValue;

        if( *pc == '\0' )
        {
            break;
        }

        if( *pc != '.' )
        {
            return 0;
        }

        ulValue = 0;
        iDigits = 0;
    }

    if( iPart != 4 )
    {
        return 0;
    }

    memcpy( &ulAddress, ucParts, 4 );
    return ulAddress;
}

uint32_t SOCKETS_GetHostByName( const char * pcHostName )
{
    size_t xLength;
    uint32_t ulAddress;

    if( ( pcHostName == NULL ) || ( ( xLength = strlen( pcHostName ) ) == 0 ) || ( xLength > securesocketsMAX_DNS_NAME_LENGTH ) )
    {
        return 0;
    }

    if( ( ulAddress = prvDottedQuad( pcHostName ) ) != 0 )
    {
        return ulAddress;
    }

    if( ( prvLinkStart() != pdPASS ) )
    {
        return 0;
    }

    ( void ) xSemaphoreTake( xResolveLock, portMAX_DELAY );
    xResolveDone = pdFALSE;
    ulResolved = 0;
    ( void ) xSemaphoreTake( xLinkEvent, 0 );
    prvSendFrame( TYPE_RESOLVE, NO_SOCKET, pcHostName, xLength, NULL, 0 );

    TickType_t xStart = xTaskGetTickCount();

    while( ( xResolveDone == pdFALSE ) && ( xLinkDead == pdFALSE ) &&
           ( xTaskGetTickCount() - xStart < uartsocketsRESOLVE_TIMEOUT ) )
    {
        ( void ) xSemaphoreTake( xLinkEvent, uartsocketsRESOLVE_TIMEOUT - ( xTaskGetTickCount() - xStart ) );
    }

    ulAddress = ( xResolveDone == pdTRUE ) ? ulResolved : 0;
    ( void ) xSemaphoreGive( xResolveLock );
    return ulAddress;
}
