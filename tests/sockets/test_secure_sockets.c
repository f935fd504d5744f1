/*
 * The simulator's Secure Sockets port (c_demo/secure_sockets) under the FreeRTOS
 * POSIX simulator: every call runs in a FreeRTOS task, against a loopback
 * listener this program opens with plain BSD calls and serves from a FreeRTOS
 * "server" task (non-blocking, poll/accept + vTaskDelay loops).
 *
 * Built twice: against sim_secure_sockets, and with TEST_NOWAKEUP against
 * sim_secure_sockets_nowakeup (where the wake-up option must be refused).
 *
 * Prints "N passed, M failed" and exits non-zero on any failure.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "FreeRTOS.h"
#include "task.h"
#include "queue.h"
#include "semphr.h"

#include "aws_secure_sockets.h"

/*-----------------------------------------------------------*/
/* Checks                                                      */
/*-----------------------------------------------------------*/

static int iPassed = 0;
static int iFailed = 0;

#define CHECK( cond )                                                 \
    do {                                                              \
        if( cond )                                                    \
        {                                                             \
            iPassed++;                                                \
        }                                                             \
        else                                                          \
        {                                                             \
            printf( "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond );  \
            iFailed++;                                                \
        }                                                             \
    } while( 0 )

/* Like CHECK, with the actual value of an int32_t expression in the message. */
#define CHECK_EQ( expr, expected )                                                     \
    do {                                                                               \
        int32_t lGot_ = ( int32_t ) ( expr );                                          \
        int32_t lWant_ = ( int32_t ) ( expected );                                     \
        if( lGot_ == lWant_ )                                                          \
        {                                                                              \
            iPassed++;                                                                 \
        }                                                                              \
        else                                                                           \
        {                                                                              \
            printf( "FAIL %s:%d: %s == %ld, expected %ld\n", __FILE__, __LINE__, #expr, \
                    ( long ) lGot_, ( long ) lWant_ );                                 \
            iFailed++;                                                                 \
        }                                                                              \
    } while( 0 )

#define MAIN_PRIORITY      ( tskIDLE_PRIORITY + 2 )
#define SERVER_PRIORITY    ( tskIDLE_PRIORITY + 3 )
#define TASK_STACK         ( configMINIMAL_STACK_SIZE * 2 )

/*-----------------------------------------------------------*/
/* The server task                                             */
/*-----------------------------------------------------------*/

typedef enum
{
    SRV_ACCEPT, /* Accept one connection into the slot. */
    SRV_SEND,   /* Write pv[0..len) to the slot's connection. */
    SRV_READ,   /* Read exactly len bytes into ucSrvBuf (or check the pattern if pv is NULL). */
    SRV_CLOSE,  /* Close the slot's connection (orderly FIN). */
    SRV_RESET   /* Close it with SO_LINGER 0 (RST). */
} SrvOp_t;

typedef struct
{
    SrvOp_t eOp;
    int iSlot;
    const void * pv;
    size_t xLen;
    TickType_t xDelay; /* Ticks to wait before doing it. */
} SrvCmd_t;

#define SRV_SLOTS          2
#define SRV_WAIT_TICKS     20000

static int iListenFd = -1;
static uint16_t usListenPort = 0; /* Host order. */
static int iConnFd[ SRV_SLOTS ] = { -1, -1 };
static QueueHandle_t xSrvQueue;
static SemaphoreHandle_t xSrvDone;
static volatile int32_t lSrvResult;
static volatile TickType_t xLastWriteTick;
static uint8_t ucSrvBuf[ 4096 ];

/* Byte i of the test stream. */
static uint8_t prvPattern( size_t i )
{
    return ( uint8_t ) ( ( i * 131U ) ^ ( i >> 9 ) );
}

static int32_t prvSrvAccept( void )
{
    for( int t = 0; t < 5000; t++ )
    {
        int iFd = accept4( iListenFd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC );

        if( iFd >= 0 )
        {
            return iFd;
        }

        if( ( errno != EAGAIN ) && ( errno != EWOULDBLOCK ) && ( errno != EINTR ) )
        {
            return -1;
        }

        vTaskDelay( 1 );
    }

    return -1;
}

static int32_t prvSrvSend( int iFd,
                           const uint8_t * puc,
                           size_t xLen )
{
    size_t xDone = 0;

    xLastWriteTick = xTaskGetTickCount();

    for( int t = 0; xDone < xLen && t < 10000; )
    {
        ssize_t n = send( iFd, puc + xDone, xLen - xDone, MSG_NOSIGNAL | MSG_DONTWAIT );

        if( n > 0 )
        {
            xDone += ( size_t ) n;
        }
        else if( ( n < 0 ) && ( errno == EINTR ) )
        {
            continue;
        }
        else if( ( n < 0 ) && ( ( errno == EAGAIN ) || ( errno == EWOULDBLOCK ) ) )
        {
            vTaskDelay( 1 );
            t++;
        }
        else
        {
            break;
        }
    }

    return ( int32_t ) xDone;
}

/* Reads xLen bytes into ucSrvBuf (as much as fits) or, with xPattern, checks
 * them against the test pattern instead. Returns bytes read, or -1 on a
 * pattern mismatch. */
static int32_t prvSrvRead( int iFd,
                           size_t xLen,
                           BaseType_t xPattern )
{
    size_t xDone = 0;
    uint8_t ucChunk[ 4096 ];

    for( int t = 0; xDone < xLen && t < 10000; )
    {
        size_t xWant = xLen - xDone;

        if( xWant > sizeof( ucChunk ) )
        {
            xWant = sizeof( ucChunk );
        }

        ssize_t n = recv( iFd, ucChunk, xWant, MSG_DONTWAIT );

        if( n > 0 )
        {
            for( ssize_t i = 0; i < n; i++ )
            {
                if( xPattern == pdTRUE )
                {
                    if( ucChunk[ i ] != prvPattern( xDone + ( size_t ) i ) )
                    {
                        return -1;
                    }
                }
                else if( xDone + ( size_t ) i < sizeof( ucSrvBuf ) )
                {
                    ucSrvBuf[ xDone + ( size_t ) i ] = ucChunk[ i ];
                }
            }

            xDone += ( size_t ) n;
        }
        else if( ( n < 0 ) && ( errno == EINTR ) )
        {
            continue;
        }
        else if( ( n < 0 ) && ( ( errno == EAGAIN ) || ( errno == EWOULDBLOCK ) ) )
        {
            vTaskDelay( 1 );
            t++;
        }
        else
        {
            break;
        }
    }

    return ( int32_t ) xDone;
}

static void prvServerTask( void * pvParameters )
{
    SrvCmd_t xCmd;

    ( void ) pvParameters;

    for( ; ; )
    {
        ( void ) xQueueReceive( xSrvQueue, &xCmd, portMAX_DELAY );

        if( xCmd.xDelay > 0U )
        {
            vTaskDelay( xCmd.xDelay );
        }

        int * piFd = &iConnFd[ xCmd.iSlot ];

        switch( xCmd.eOp )
        {
            case SRV_ACCEPT:
                *piFd = prvSrvAccept();
                lSrvResult = ( *piFd >= 0 ) ? 0 : -1;
                break;

            case SRV_SEND:
                lSrvResult = prvSrvSend( *piFd, xCmd.pv, xCmd.xLen );
                break;

            case SRV_READ:
                lSrvResult = prvSrvRead( *piFd, xCmd.xLen, ( xCmd.pv == NULL ) ? pdTRUE : pdFALSE );
                break;

            case SRV_RESET:
               {
                   struct linger xLinger = { 1, 0 };
                   ( void ) setsockopt( *piFd, SOL_SOCKET, SO_LINGER, &xLinger, sizeof( xLinger ) );
               }
                /* Fall through. */

            case SRV_CLOSE:
                lSrvResult = ( *piFd >= 0 ) ? close( *piFd ) : -1;
                *piFd = -1;
                break;
        }

        ( void ) xSemaphoreGive( xSrvDone );
    }
}

static void prvServerStart( SrvOp_t eOp,
                            int iSlot,
                            const void * pv,
                            size_t xLen,
                            TickType_t xDelay )
{
    SrvCmd_t xCmd = { eOp, iSlot, pv, xLen, xDelay };

    ( void ) xQueueSend( xSrvQueue, &xCmd, portMAX_DELAY );
}

static int32_t prvServerWait( void )
{
    if( xSemaphoreTake( xSrvDone, SRV_WAIT_TICKS ) != pdTRUE )
    {
        printf( "server task did not answer\n" );
        return -999;
    }

    return lSrvResult;
}

static int32_t prvServer( SrvOp_t eOp,
                          int iSlot,
                          const void * pv,
                          size_t xLen )
{
    prvServerStart( eOp, iSlot, pv, xLen, 0 );
    return prvServerWait();
}

/* Opens the loopback listener (port 0: the kernel picks; small receive buffer
 * so that big sends really have to wait for the reader). */
static int prvListen( void )
{
    struct sockaddr_in xAddr;
    socklen_t xLen = sizeof( xAddr );
    int iOne = 1;
    int iRcvBuf = 8192;

    iListenFd = socket( AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0 );

    if( iListenFd < 0 )
    {
        return -1;
    }

    ( void ) setsockopt( iListenFd, SOL_SOCKET, SO_REUSEADDR, &iOne, sizeof( iOne ) );
    ( void ) setsockopt( iListenFd, SOL_SOCKET, SO_RCVBUF, &iRcvBuf, sizeof( iRcvBuf ) );
    memset( &xAddr, 0, sizeof( xAddr ) );
    xAddr.sin_family = AF_INET;
    xAddr.sin_addr.s_addr = htonl( INADDR_LOOPBACK );
    xAddr.sin_port = 0;

    if( ( bind( iListenFd, ( struct sockaddr * ) &xAddr, sizeof( xAddr ) ) != 0 ) ||
        ( listen( iListenFd, 8 ) != 0 ) ||
        ( getsockname( iListenFd, ( struct sockaddr * ) &xAddr, &xLen ) != 0 ) )
    {
        return -1;
    }

    usListenPort = ntohs( xAddr.sin_port );
    return 0;
}

/*-----------------------------------------------------------*/
/* Helpers                                                     */
/*-----------------------------------------------------------*/

static SocketsSockaddr_t prvAddress( uint16_t usPortHost )
{
    SocketsSockaddr_t xAddr;

    memset( &xAddr, 0, sizeof( xAddr ) );
    xAddr.ucLength = sizeof( xAddr );
    xAddr.ucSocketDomain = SOCKETS_AF_INET;
    xAddr.usPort = SOCKETS_htons( usPortHost );
    xAddr.ulAddress = SOCKETS_inet_addr_quick( 127, 0, 0, 1 );
    return xAddr;
}

/* A port socket connected to the listener, accepted into server slot iSlot. */
static Socket_t prvConnected( int iSlot )
{
    SocketsSockaddr_t xAddr = prvAddress( usListenPort );
    Socket_t s = SOCKETS_Socket( SOCKETS_AF_INET, SOCKETS_SOCK_STREAM, SOCKETS_IPPROTO_TCP );

    CHECK( s != SOCKETS_INVALID_SOCKET );

    if( s == SOCKETS_INVALID_SOCKET )
    {
        return s;
    }

    CHECK_EQ( SOCKETS_Connect( s, &xAddr, sizeof( xAddr ) ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvServer( SRV_ACCEPT, iSlot, NULL, 0 ), 0 );
    return s;
}

static int32_t prvSetTicks( Socket_t s,
                            int32_t lOption,
                            TickType_t xTicks )
{
    return SOCKETS_SetSockOpt( s, 0, lOption, &xTicks, sizeof( xTicks ) );
}

/* Receives exactly xLen bytes (or fails), each call with the socket's timeout. */
static int32_t prvRecvAll( Socket_t s,
                           uint8_t * puc,
                           size_t xLen )
{
    size_t xDone = 0;

    for( int i = 0; i < 100 && xDone < xLen; i++ )
    {
        int32_t n = SOCKETS_Recv( s, puc + xDone, xLen - xDone, 0 );

        if( n < 0 )
        {
            return n;
        }

        xDone += ( size_t ) n;
    }

    return ( int32_t ) xDone;
}

static int prvOpenFds( void )
{
    int n = 0;
    DIR * pxDir = opendir( "/proc/self/fd" );

    if( pxDir == NULL )
    {
        return -1;
    }

    while( readdir( pxDir ) != NULL )
    {
        n++;
    }

    closedir( pxDir );
    return n;
}

/*-----------------------------------------------------------*/
/* Tests                                                       */
/*-----------------------------------------------------------*/

static void prvDummyCallback( Socket_t s )
{
    ( void ) s;
}

static void prvTestBadArguments( void )
{
    uint8_t ucBuf[ 8 ] = { 0 };
    TickType_t xTicks = 10;
    SocketsSockaddr_t xAddr = prvAddress( usListenPort );
    Socket_t xBad[ 2 ] = { NULL, SOCKETS_INVALID_SOCKET };

    /* Only IPv4 TCP stream sockets exist. */
    CHECK( SOCKETS_Socket( SOCKETS_AF_INET6, SOCKETS_SOCK_STREAM, SOCKETS_IPPROTO_TCP ) == SOCKETS_INVALID_SOCKET );
    CHECK( SOCKETS_Socket( SOCKETS_AF_INET, SOCKETS_SOCK_DGRAM, SOCKETS_IPPROTO_TCP ) == SOCKETS_INVALID_SOCKET );
    CHECK( SOCKETS_Socket( SOCKETS_AF_INET, SOCKETS_SOCK_STREAM, SOCKETS_IPPROTO_UDP ) == SOCKETS_INVALID_SOCKET );
    CHECK( SOCKETS_Socket( 0, 0, 0 ) == SOCKETS_INVALID_SOCKET );

    /* NULL and the invalid handle are refused everywhere. */
    for( int i = 0; i < 2; i++ )
    {
        Socket_t s = xBad[ i ];
        CHECK_EQ( SOCKETS_Connect( s, &xAddr, sizeof( xAddr ) ), SOCKETS_EINVAL );
        CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), SOCKETS_EINVAL );
        CHECK_EQ( SOCKETS_Send( s, ucBuf, sizeof( ucBuf ), 0 ), SOCKETS_EINVAL );
        CHECK_EQ( SOCKETS_Shutdown( s, SOCKETS_SHUT_RDWR ), SOCKETS_EINVAL );
        CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_RCVTIMEO, &xTicks, sizeof( xTicks ) ), SOCKETS_EINVAL );
        CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_NONBLOCK, NULL, 0 ), SOCKETS_EINVAL );
        CHECK_EQ( SOCKETS_Close( s ), SOCKETS_EINVAL );
    }

    Socket_t s = SOCKETS_Socket( SOCKETS_AF_INET, SOCKETS_SOCK_STREAM, SOCKETS_IPPROTO_TCP );
    CHECK( s != SOCKETS_INVALID_SOCKET );
    CHECK( s != NULL );

    /* Bad buffers and addresses on a good socket. */
    CHECK_EQ( SOCKETS_Connect( s, NULL, sizeof( xAddr ) ), SOCKETS_EINVAL );
    xAddr.ucSocketDomain = SOCKETS_AF_INET6;
    CHECK_EQ( SOCKETS_Connect( s, &xAddr, sizeof( xAddr ) ), SOCKETS_EINVAL );
    CHECK_EQ( SOCKETS_Recv( s, NULL, sizeof( ucBuf ), 0 ), SOCKETS_EINVAL );
    CHECK_EQ( SOCKETS_Recv( s, ucBuf, 0, 0 ), SOCKETS_EINVAL );
    CHECK_EQ( SOCKETS_Send( s, NULL, sizeof( ucBuf ), 0 ), SOCKETS_EINVAL );
    CHECK_EQ( SOCKETS_Send( s, ucBuf, 0, 0 ), SOCKETS_EINVAL );
    CHECK_EQ( SOCKETS_Shutdown( s, 3 ), SOCKETS_EINVAL );

    /* Not connected yet. */
    CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), SOCKETS_ENOTCONN );
    CHECK_EQ( SOCKETS_Send( s, ucBuf, sizeof( ucBuf ), 0 ), SOCKETS_ENOTCONN );
    CHECK_EQ( SOCKETS_Shutdown( s, SOCKETS_SHUT_RDWR ), SOCKETS_ENOTCONN );

    /* Options: bad values, TLS (never done by the port), unsupported ones. */
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_RCVTIMEO, NULL, sizeof( TickType_t ) ), SOCKETS_EINVAL );
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_SNDTIMEO, &xTicks, 1 ), SOCKETS_EINVAL );
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_RCVTIMEO, &xTicks, sizeof( xTicks ) ), SOCKETS_ERROR_NONE );
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_SNDTIMEO, &xTicks, sizeof( xTicks ) ), SOCKETS_ERROR_NONE );
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_REQUIRE_TLS, NULL, 0 ), SOCKETS_ENOPROTOOPT );
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE, "cert", 5 ), SOCKETS_ENOPROTOOPT );
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_SERVER_NAME_INDICATION, "localhost", 10 ), SOCKETS_ENOPROTOOPT );
    {
        const char * ppcAlpn[] = { socketsAWS_IOT_ALPN_MQTT };
        CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_ALPN_PROTOCOLS, ppcAlpn, 1 ), SOCKETS_ENOPROTOOPT );
    }
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_SNDBUF, &xTicks, sizeof( xTicks ) ), SOCKETS_ENOPROTOOPT );
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, 99, &xTicks, sizeof( xTicks ) ), SOCKETS_ENOPROTOOPT );
    #ifndef TEST_NOWAKEUP
        CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_WAKEUP_CALLBACK, ( const void * ) ( uintptr_t ) prvDummyCallback, 1 ), SOCKETS_EINVAL );
    #else
        ( void ) prvDummyCallback;
    #endif

    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );
    CHECK_EQ( SOCKETS_GetHostByName( NULL ), 0 );
}

static void prvTestRoundTrip( void )
{
    static const char cHello[] = "hello";
    static const char cWorld[] = "world!";
    uint8_t ucBuf[ 16 ] = { 0 };
    SocketsSockaddr_t xAddr = prvAddress( usListenPort );

    Socket_t s = prvConnected( 0 );

    /* A second connect is refused. */
    CHECK_EQ( SOCKETS_Connect( s, &xAddr, sizeof( xAddr ) ), SOCKETS_EISCONN );

    CHECK_EQ( prvSetTicks( s, SOCKETS_SO_RCVTIMEO, 1000 ), SOCKETS_ERROR_NONE );
    CHECK_EQ( SOCKETS_Send( s, cHello, 5, 0 ), 5 );
    CHECK_EQ( prvServer( SRV_READ, 0, ucSrvBuf, 5 ), 5 );
    CHECK( memcmp( ucSrvBuf, cHello, 5 ) == 0 );

    CHECK_EQ( prvServer( SRV_SEND, 0, cWorld, 6 ), 6 );
    CHECK_EQ( prvRecvAll( s, ucBuf, 6 ), 6 );
    CHECK( memcmp( ucBuf, cWorld, 6 ) == 0 );

    /* Data that arrives while Recv waits wakes it within a tick or two. */
    TickType_t xStart = xTaskGetTickCount();
    prvServerStart( SRV_SEND, 0, cHello, 5, 30 );
    CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), 5 );
    TickType_t xWoke = xTaskGetTickCount();
    CHECK_EQ( prvServerWait(), 5 );
    CHECK( xWoke - xLastWriteTick <= 2 );
    CHECK( xWoke - xStart >= 30 );

    /* AFR: a timeout of 0 means "wait forever", not "do not wait". */
    CHECK_EQ( prvSetTicks( s, SOCKETS_SO_RCVTIMEO, 0 ), SOCKETS_ERROR_NONE );
    xStart = xTaskGetTickCount();
    prvServerStart( SRV_SEND, 0, cWorld, 6, 40 );
    CHECK_EQ( prvRecvAll( s, ucBuf, 6 ), 6 );
    CHECK( xTaskGetTickCount() - xStart >= 40 );
    CHECK_EQ( prvServerWait(), 6 );

    /* A big send waits for the (slow, small-window) reader and sends it all. */
    size_t xBig = 256U * 1024U;
    uint8_t * pucBig = malloc( xBig );
    CHECK( pucBig != NULL );

    if( pucBig != NULL )
    {
        for( size_t i = 0; i < xBig; i++ )
        {
            pucBig[ i ] = prvPattern( i );
        }

        prvServerStart( SRV_READ, 0, NULL, xBig, 0 );
        CHECK_EQ( SOCKETS_Send( s, pucBig, xBig, 0 ), ( int32_t ) xBig );
        CHECK_EQ( prvServerWait(), ( int32_t ) xBig );
        free( pucBig );
    }

    CHECK_EQ( SOCKETS_Shutdown( s, SOCKETS_SHUT_RDWR ), SOCKETS_ERROR_NONE );
    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );
}

static void prvTestTimeouts( void )
{
    uint8_t ucBuf[ 16 ];
    Socket_t s = prvConnected( 0 );
    const TickType_t xWaits[] = { 50, 10, 1 };

    /* No data: Recv returns 0 after the timeout, measured in ticks. */
    for( size_t i = 0; i < sizeof( xWaits ) / sizeof( xWaits[ 0 ] ); i++ )
    {
        CHECK_EQ( prvSetTicks( s, SOCKETS_SO_RCVTIMEO, xWaits[ i ] ), SOCKETS_ERROR_NONE );
        TickType_t xStart = xTaskGetTickCount();
        CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), 0 );
        TickType_t xElapsed = xTaskGetTickCount() - xStart;
        printf( "recv timeout %lu ticks: returned after %lu\n", ( unsigned long ) xWaits[ i ], ( unsigned long ) xElapsed );
        CHECK( xElapsed >= xWaits[ i ] );
        CHECK( xElapsed <= xWaits[ i ] + 3 );
    }

    /* Send: the server does not read; a huge send stops at the send timeout
     * with what fitted, and the next one sends nothing (0) after the timeout. */
    size_t xHuge = 8U * 1024U * 1024U;
    uint8_t * pucHuge = calloc( 1, xHuge );
    CHECK( pucHuge != NULL );

    if( pucHuge != NULL )
    {
        CHECK_EQ( prvSetTicks( s, SOCKETS_SO_SNDTIMEO, 20 ), SOCKETS_ERROR_NONE );
        TickType_t xStart = xTaskGetTickCount();
        int32_t lSent = SOCKETS_Send( s, pucHuge, xHuge, 0 );
        TickType_t xElapsed = xTaskGetTickCount() - xStart;
        printf( "send of %lu bytes, 20-tick timeout: sent %ld after %lu ticks\n",
                ( unsigned long ) xHuge, ( long ) lSent, ( unsigned long ) xElapsed );
        CHECK( lSent > 0 );
        CHECK( lSent < ( int32_t ) xHuge );
        /* Ticks can pass inside one big send() (copying megabytes, slower
         * still under valgrind): allow some, but not a second timeout. */
        CHECK( xElapsed >= 20 );
        CHECK( xElapsed <= 20 + 15 );

        /* The host may still grow its buffers a little: send until full. */
        for( int i = 0; i < 20 && lSent > 0; i++ )
        {
            xStart = xTaskGetTickCount();
            lSent = SOCKETS_Send( s, pucHuge, xHuge, 0 );
            xElapsed = xTaskGetTickCount() - xStart;
        }

        CHECK_EQ( lSent, 0 );
        CHECK( xElapsed >= 20 );
        CHECK( xElapsed <= 20 + 15 );

        /* Non-blocking: both calls return at once. */
        CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_NONBLOCK, NULL, 0 ), SOCKETS_ERROR_NONE );
        xStart = xTaskGetTickCount();
        CHECK_EQ( SOCKETS_Send( s, pucHuge, xHuge, 0 ), 0 );
        CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), 0 );
        CHECK( xTaskGetTickCount() - xStart <= 1 );
        free( pucHuge );
    }

    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );
}

static void prvTestPeerGone( void )
{
    uint8_t ucBuf[ 16 ];
    TickType_t xStart;
    int32_t lRc = 0;

    /* Orderly close: the data first, then SOCKETS_ECLOSED, at once and for good. */
    Socket_t s = prvConnected( 0 );
    CHECK_EQ( prvSetTicks( s, SOCKETS_SO_RCVTIMEO, 1000 ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvServer( SRV_SEND, 0, "bye", 3 ), 3 );
    CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );
    CHECK_EQ( prvRecvAll( s, ucBuf, 3 ), 3 );
    CHECK( memcmp( ucBuf, "bye", 3 ) == 0 );
    xStart = xTaskGetTickCount();
    CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), SOCKETS_ECLOSED );
    CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), SOCKETS_ECLOSED );
    CHECK( xTaskGetTickCount() - xStart <= 2 );

    /* Sending to the closed peer fails soon (RST), without SIGPIPE. */
    for( int i = 0; i < 50; i++ )
    {
        lRc = SOCKETS_Send( s, "x", 1, 0 );

        if( lRc < 0 )
        {
            break;
        }

        vTaskDelay( 1 );
    }

    CHECK( ( lRc == SOCKETS_ECLOSED ) || ( lRc == SOCKETS_SOCKET_ERROR ) );
    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );

    /* EOF is told apart from "no data yet" in non-blocking mode too. */
    s = prvConnected( 0 );
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_NONBLOCK, NULL, 0 ), SOCKETS_ERROR_NONE );
    CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), 0 );
    CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );
    lRc = 0;

    for( int i = 0; i < 20 && lRc == 0; i++ )
    {
        lRc = SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 );
        vTaskDelay( 1 );
    }

    CHECK_EQ( lRc, SOCKETS_ECLOSED );
    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );

    /* Reset by the peer. */
    s = prvConnected( 0 );
    CHECK_EQ( prvSetTicks( s, SOCKETS_SO_RCVTIMEO, 1000 ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvServer( SRV_RESET, 0, NULL, 0 ), 0 );
    xStart = xTaskGetTickCount();
    CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), SOCKETS_ECLOSED );
    CHECK( xTaskGetTickCount() - xStart <= 2 );
    CHECK( SOCKETS_Send( s, "x", 1, 0 ) < 0 );
    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );

    /* Our own shutdown: AFR's agent drains with Recv until it goes negative. */
    s = prvConnected( 0 );
    CHECK_EQ( prvSetTicks( s, SOCKETS_SO_RCVTIMEO, 1000 ), SOCKETS_ERROR_NONE );
    CHECK_EQ( SOCKETS_Shutdown( s, SOCKETS_SHUT_RDWR ), SOCKETS_ERROR_NONE );
    xStart = xTaskGetTickCount();
    CHECK( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ) < 0 );
    CHECK( xTaskGetTickCount() - xStart <= 2 );
    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );
}

static void prvTestConnectRefused( void )
{
    uint8_t ucBuf[ 4 ];
    struct sockaddr_in xTmp;
    socklen_t xLen = sizeof( xTmp );
    int iFd = socket( AF_INET, SOCK_STREAM, 0 );

    /* A port that was just free and has no listener. */
    memset( &xTmp, 0, sizeof( xTmp ) );
    xTmp.sin_family = AF_INET;
    xTmp.sin_addr.s_addr = htonl( INADDR_LOOPBACK );
    CHECK( iFd >= 0 );
    CHECK( bind( iFd, ( struct sockaddr * ) &xTmp, sizeof( xTmp ) ) == 0 );
    CHECK( getsockname( iFd, ( struct sockaddr * ) &xTmp, &xLen ) == 0 );
    close( iFd );

    SocketsSockaddr_t xAddr = prvAddress( ntohs( xTmp.sin_port ) );
    Socket_t s = SOCKETS_Socket( SOCKETS_AF_INET, SOCKETS_SOCK_STREAM, SOCKETS_IPPROTO_TCP );
    CHECK( s != SOCKETS_INVALID_SOCKET );
    TickType_t xStart = xTaskGetTickCount();
    CHECK_EQ( SOCKETS_Connect( s, &xAddr, sizeof( xAddr ) ), SOCKETS_SOCKET_ERROR );
    CHECK( xTaskGetTickCount() - xStart <= 5 );
    /* A failed socket can only be closed. */
    CHECK( SOCKETS_Connect( s, &xAddr, sizeof( xAddr ) ) < 0 );
    CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), SOCKETS_ENOTCONN );
    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );
}

static void prvTestNames( void )
{
    char cLong[ 300 ];
    char cText[ 16 ];
    uint32_t ulLoop = SOCKETS_GetHostByName( "localhost" );

    CHECK( ulLoop == SOCKETS_htonl( 0x7F000001UL ) );
    CHECK( ulLoop == htonl( INADDR_LOOPBACK ) );
    CHECK( SOCKETS_GetHostByName( "127.0.0.1" ) == SOCKETS_inet_addr_quick( 127, 0, 0, 1 ) );
    CHECK( SOCKETS_GetHostByName( "10.1.2.3" ) == SOCKETS_inet_addr_quick( 10, 1, 2, 3 ) );
    ( void ) SOCKETS_inet_ntoa( ulLoop, cText );
    CHECK( strcmp( cText, "127.0.0.1" ) == 0 );

    /* Names that cannot resolve (none of them needs a DNS server to say so). */
    memset( cLong, 'a', sizeof( cLong ) );
    cLong[ sizeof( cLong ) - 1 ] = '\0';
    CHECK_EQ( SOCKETS_GetHostByName( "" ), 0 );
    CHECK_EQ( SOCKETS_GetHostByName( cLong ), 0 );
    CHECK_EQ( SOCKETS_GetHostByName( "host..invalid" ), 0 );

    /* Byte-order macros agree with the host's. */
    CHECK( SOCKETS_htons( 0x1234 ) == htons( 0x1234 ) );
    CHECK( SOCKETS_ntohs( SOCKETS_htons( 0xBEEF ) ) == 0xBEEF );
    CHECK( SOCKETS_htonl( 0x12345678UL ) == htonl( 0x12345678UL ) );
    CHECK( SOCKETS_ntohl( SOCKETS_htonl( 0xCAFEF00DUL ) ) == 0xCAFEF00DUL );
}

#ifndef TEST_NOWAKEUP

static TaskHandle_t xMainTask;
static volatile uint32_t ulWakeCount;
static volatile TickType_t xWakeTick;
static volatile Socket_t xWakeSocket;
static volatile Socket_t xClosedSocket; /* Set once SOCKETS_Close returned for it. */
static volatile uint32_t ulWakeAfterClose;
static volatile int32_t lSelfCloseResult;

static void prvWake( Socket_t s )
{
    if( ( xClosedSocket != NULL ) && ( s == xClosedSocket ) )
    {
        ulWakeAfterClose++;
    }

    xWakeTick = xTaskGetTickCount();
    xWakeSocket = s;
    ulWakeCount++;
    ( void ) xTaskNotifyGive( xMainTask );
}

static void prvWakeAndClose( Socket_t s )
{
    ulWakeCount++;
    lSelfCloseResult = SOCKETS_Close( s );
}

static int32_t prvRegister( Socket_t s,
                            void ( * pxFn )( Socket_t ) )
{
    return SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_WAKEUP_CALLBACK, ( const void * ) ( uintptr_t ) pxFn, sizeof( void * ) );
}

/* Waits up to xTicks for a callback; pdTRUE if one came. */
static BaseType_t prvAwaitWake( TickType_t xTicks )
{
    return ( ulTaskNotifyTake( pdTRUE, xTicks ) > 0U ) ? pdTRUE : pdFALSE;
}

static void prvTestWakeup( void )
{
    uint8_t ucBuf[ 64 ];
    const int iRounds = 20;
    TickType_t xMaxLatency = 0;
    uint32_t ulLatencySum = 0;

    xMainTask = xTaskGetCurrentTaskHandle();
    ( void ) ulTaskNotifyTake( pdTRUE, 0 );

    Socket_t s = prvConnected( 0 );
    CHECK_EQ( prvSetTicks( s, SOCKETS_SO_RCVTIMEO, 100 ), SOCKETS_ERROR_NONE );
    ulWakeCount = 0;
    CHECK_EQ( prvRegister( s, prvWake ), SOCKETS_ERROR_NONE );

    /* Nothing to read: no callback. */
    CHECK( prvAwaitWake( 10 ) == pdFALSE );
    CHECK_EQ( ulWakeCount, 0 );

    for( int r = 0; r < iRounds; r++ )
    {
        uint32_t ulBefore = ulWakeCount;

        CHECK_EQ( prvServer( SRV_SEND, 0, "12345678", 8 ), 8 );
        CHECK( prvAwaitWake( 100 ) == pdTRUE );
        CHECK( xWakeSocket == s );
        TickType_t xLatency = xWakeTick - xLastWriteTick;
        ulLatencySum += xLatency;

        if( xLatency > xMaxLatency )
        {
            xMaxLatency = xLatency;
        }

        CHECK( xLatency <= 2 );

        /* Edge-triggered: unread data does not call again and again. */
        vTaskDelay( 5 );
        CHECK_EQ( ulWakeCount, ulBefore + 1 );

        CHECK_EQ( prvRecvAll( s, ucBuf, 8 ), 8 );
        CHECK( memcmp( ucBuf, "12345678", 8 ) == 0 );

        /* Drained, nothing new: still quiet. */
        CHECK( prvAwaitWake( 3 ) == pdFALSE );
    }

    printf( "wake-up latency over %d writes: max %lu tick(s), mean %.2f\n", iRounds,
            ( unsigned long ) xMaxLatency, ( double ) ulLatencySum / iRounds );

    /* A Recv that leaves data behind re-arms: the rest is announced too. */
    CHECK_EQ( prvServer( SRV_SEND, 0, "abcdefghijklmnop", 16 ), 16 );
    CHECK( prvAwaitWake( 100 ) == pdTRUE );
    CHECK_EQ( SOCKETS_Recv( s, ucBuf, 4, 0 ), 4 );
    CHECK( prvAwaitWake( 3 ) == pdTRUE );
    CHECK_EQ( prvRecvAll( s, ucBuf, 12 ), 12 );
    CHECK( memcmp( ucBuf, "efghijklmnop", 12 ) == 0 );
    ( void ) prvAwaitWake( 2 ); /* A call racing the Recv above is allowed. */

    /* The peer closing is announced as well. */
    CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );
    CHECK( prvAwaitWake( 100 ) == pdTRUE );
    CHECK_EQ( SOCKETS_Recv( s, ucBuf, sizeof( ucBuf ), 0 ), SOCKETS_ECLOSED );
    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );

    /* Cleared callbacks are not called. */
    s = prvConnected( 0 );
    CHECK_EQ( prvRegister( s, prvWake ), SOCKETS_ERROR_NONE );
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_WAKEUP_CALLBACK, NULL, 0 ), SOCKETS_ERROR_NONE );
    ( void ) ulTaskNotifyTake( pdTRUE, 0 );
    uint32_t ulBefore = ulWakeCount;
    CHECK_EQ( prvServer( SRV_SEND, 0, "zz", 2 ), 2 );
    CHECK( prvAwaitWake( 10 ) == pdFALSE );
    CHECK_EQ( ulWakeCount, ulBefore );
    /* ... and can be set again. */
    CHECK_EQ( prvRegister( s, prvWake ), SOCKETS_ERROR_NONE );
    CHECK( prvAwaitWake( 10 ) == pdTRUE );
    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );

    /* Two sockets: only the one with data is called. */
    Socket_t a = prvConnected( 0 );
    Socket_t b = prvConnected( 1 );
    CHECK_EQ( prvRegister( a, prvWake ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvRegister( b, prvWake ), SOCKETS_ERROR_NONE );
    ( void ) ulTaskNotifyTake( pdTRUE, 0 );
    CHECK_EQ( prvServer( SRV_SEND, 1, "b", 1 ), 1 );
    CHECK( prvAwaitWake( 100 ) == pdTRUE );
    CHECK( xWakeSocket == b );
    CHECK( prvAwaitWake( 5 ) == pdFALSE );
    CHECK_EQ( prvServer( SRV_SEND, 0, "a", 1 ), 1 );
    CHECK( prvAwaitWake( 100 ) == pdTRUE );
    CHECK( xWakeSocket == a );
    CHECK_EQ( SOCKETS_Close( a ), SOCKETS_ERROR_NONE );
    CHECK_EQ( SOCKETS_Close( b ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );
    CHECK_EQ( prvServer( SRV_CLOSE, 1, NULL, 0 ), 0 );
}

static void prvTestNoWakeAfterClose( void )
{
    uint8_t ucBuf[ 4 ];
    static uint8_t ucData[ 64 ];

    /* Each round: data pending and the socket armed again (a Recv left data
     * behind), so without the Close a callback would come within a tick. The
     * Close lands 0, 1 or 2 ticks later, i.e. before, at or after that tick. */
    ulWakeAfterClose = 0;

    for( int r = 0; r < 30; r++ )
    {
        Socket_t s = prvConnected( 0 );
        xClosedSocket = NULL;
        CHECK_EQ( prvRegister( s, prvWake ), SOCKETS_ERROR_NONE );
        ( void ) ulTaskNotifyTake( pdTRUE, 0 );
        CHECK_EQ( prvServer( SRV_SEND, 0, ucData, sizeof( ucData ) ), sizeof( ucData ) );
        CHECK( prvAwaitWake( 100 ) == pdTRUE );
        CHECK_EQ( SOCKETS_Recv( s, ucBuf, 1, 0 ), 1 );

        if( ( r % 3 ) != 0 )
        {
            vTaskDelay( ( TickType_t ) ( r % 3 ) );
        }

        CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );
        xClosedSocket = s;
        uint32_t ulAtClose = ulWakeCount;
        vTaskDelay( 5 );
        CHECK_EQ( ulWakeCount, ulAtClose );
        CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );
    }

    CHECK_EQ( ulWakeAfterClose, 0 );
    xClosedSocket = NULL;

    /* A callback may close its own socket; it is not called again. */
    Socket_t s = prvConnected( 0 );
    ulWakeCount = 0;
    lSelfCloseResult = 1;
    CHECK_EQ( prvRegister( s, prvWakeAndClose ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvServer( SRV_SEND, 0, "x", 1 ), 1 );

    for( int t = 0; t < 100 && ulWakeCount == 0; t++ )
    {
        vTaskDelay( 1 );
    }

    CHECK_EQ( ulWakeCount, 1 );
    CHECK_EQ( lSelfCloseResult, SOCKETS_ERROR_NONE );
    vTaskDelay( 5 );
    CHECK_EQ( ulWakeCount, 1 );
    CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );
}

#else /* TEST_NOWAKEUP */

static void prvTestNoWakeupPort( void )
{
    Socket_t s = prvConnected( 0 );

    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_WAKEUP_CALLBACK, ( const void * ) ( uintptr_t ) prvDummyCallback, sizeof( void * ) ),
              SOCKETS_ENOPROTOOPT );
    CHECK_EQ( SOCKETS_SetSockOpt( s, 0, SOCKETS_SO_WAKEUP_CALLBACK, NULL, 0 ), SOCKETS_ENOPROTOOPT );
    CHECK_EQ( SOCKETS_Close( s ), SOCKETS_ERROR_NONE );
    CHECK_EQ( prvServer( SRV_CLOSE, 0, NULL, 0 ), 0 );
}

#endif /* TEST_NOWAKEUP */

/*-----------------------------------------------------------*/

static void prvMainTask( void * pvParameters )
{
    ( void ) pvParameters;

    CHECK( SOCKETS_Init() == pdPASS );
    CHECK( SOCKETS_Init() == pdPASS ); /* Twice is harmless. */
    CHECK( prvListen() == 0 );

    xSrvQueue = xQueueCreate( 4, sizeof( SrvCmd_t ) );
    xSrvDone = xSemaphoreCreateBinary();
    CHECK( ( xSrvQueue != NULL ) && ( xSrvDone != NULL ) );
    CHECK( xTaskCreate( prvServerTask, "server", TASK_STACK, NULL, SERVER_PRIORITY, NULL ) == pdPASS );

    /* Everything the port allocates must be given back by the end. */
    size_t xHeapBefore = xPortGetFreeHeapSize();
    int iFdsBefore = prvOpenFds();

    prvTestBadArguments();
    prvTestNames();
    prvTestConnectRefused();
    prvTestRoundTrip();
    prvTestTimeouts();
    prvTestPeerGone();
    #ifndef TEST_NOWAKEUP
        prvTestWakeup();
        prvTestNoWakeAfterClose();
    #else
        prvTestNoWakeupPort();
    #endif

    CHECK_EQ( xPortGetFreeHeapSize(), xHeapBefore );
    CHECK_EQ( prvOpenFds(), iFdsBefore );

    printf( "%d passed, %d failed\n", iPassed, iFailed );
    fflush( stdout );
    exit( iFailed == 0 ? 0 : 1 );
}

int main( void )
{
    setvbuf( stdout, NULL, _IOLBF, 0 );
    xTaskCreate( prvMainTask, "main", TASK_STACK, NULL, MAIN_PRIORITY, NULL );
    vTaskStartScheduler();
    return 1;
}
