/*
 * AFR v1.4.7 Secure Sockets for the FreeRTOS POSIX simulator: plain TCP over
 * the host's BSD sockets. See README.md next to this file for the behaviour.
 *
 * How the simulator shapes this code:
 * - The kernel's tick is SIGALRM delivered to the thread of the running task,
 *   without SA_RESTART. A blocking system call would return EINTR every tick,
 *   and a task sitting in one still counts as running, starving the tasks of
 *   lower priority. So every host socket is O_NONBLOCK and every wait is
 *   "try once, vTaskDelay( 1 ), try again", measured in ticks.
 * - FreeRTOS calls are not safe from threads the kernel does not own, so the
 *   wake-up callbacks come from FreeRTOS tasks: a watcher that polls once per
 *   tick at high priority (the bound: one tick), and an idle-priority poller
 *   that waits in poll() whenever no other task wants the CPU, so that data
 *   arriving on an idle system wakes its reader at once, as a device's network
 *   stack would (socketsconfigSIM_IDLE_POLLER 0 leaves only the watcher).
 *
 * Build with SOCKETS_SIM_NO_WAKEUP_CALLBACK=1 for a port without wake-up
 * support: SOCKETS_SO_WAKEUP_CALLBACK then answers SOCKETS_ENOPROTOOPT.
 *
 * Test seam: when the environment variable AFR_SIM_SOCKETS_PORT_443 holds a
 * port, SOCKETS_Connect to port 443 (any address) goes to 127.0.0.1:<that
 * port> instead (see README.md).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "FreeRTOS.h"
#include "task.h"
#include "semphr.h"

#include "aws_secure_sockets.h"

/* SOCKETS_SIM_TLS=1 (variant sim_secure_sockets_tls): TLS in the port, with
 * mbedTLS (sim_tls_mbedtls.c), for the library's TLS back-end "port". */
#ifndef SOCKETS_SIM_TLS
    #define SOCKETS_SIM_TLS    0
#endif
#if ( SOCKETS_SIM_TLS == 1 )
    #include "sim_tls.h"
#endif

#ifndef SOCKETS_SIM_NO_WAKEUP_CALLBACK
    #define SOCKETS_SIM_NO_WAKEUP_CALLBACK    0
#endif

/* The wake-up task: it runs the callbacks, so it needs their stack too. */
#ifndef socketsconfigSIM_WAKEUP_TASK_PRIORITY
    #define socketsconfigSIM_WAKEUP_TASK_PRIORITY    ( configMAX_PRIORITIES - 1 )
#endif
#ifndef socketsconfigSIM_WAKEUP_TASK_STACK
    #define socketsconfigSIM_WAKEUP_TASK_STACK    ( configMINIMAL_STACK_SIZE * 2 )
#endif

/* The idle-priority poller (see above); it watches at most this many sockets. */
#ifndef socketsconfigSIM_IDLE_POLLER
    #define socketsconfigSIM_IDLE_POLLER    1
#endif
#define simPOLLER_MAX_SOCKETS    16

/* Marks a live context; cleared by SOCKETS_Close (catches most stale handles). */
#define SOCKET_MAGIC    0x534F434BUL

typedef void (* WakeupCallback_t)( Socket_t xSocket );

typedef enum
{
    eIdle,      /* Created, never connected. */
    eConnected, /* SOCKETS_Connect succeeded. */
    eFailed     /* SOCKETS_Connect failed: the socket can only be closed. */
} ConnState_t;

typedef struct SimSocket
{
    uint32_t ulMagic;
    int iFd;
    ConnState_t eState;
    BaseType_t xNonBlocking;
    #if ( SOCKETS_SIM_TLS == 1 )
        SimTls_t * pxTls; /* TLS options, and the session once connected; NULL: plain. */
    #endif
    TickType_t xRecvTimeout; /* portMAX_DELAY = wait forever. */
    TickType_t xSendTimeout;

    /* Wake-up support; guarded by xRegistryLock except xArmed (see below). */
    WakeupCallback_t pxCallback;
    struct SimSocket * pxNextWatched;
    BaseType_t xWatched;

    /* pdTRUE when the owner may be told about readability again: set on
     * registration and at the end of every SOCKETS_Recv, cleared when the
     * callback is called. A single word written by two tasks: the owner calls
     * Recv after each callback, and that Recv re-arms, so no wake-up is lost. */
    volatile BaseType_t xArmed;
} SimSocket_t;

/*-----------------------------------------------------------*/

/* Converts an AFR timeout option value (0 = forever) to the stored form. */
static TickType_t prvTimeoutFromOption( TickType_t xTicks )
{
    return ( xTicks == 0U ) ? portMAX_DELAY : xTicks;
}

/* pdTRUE once xTimeout ticks have passed since xStart. */
static BaseType_t prvExpired( TickType_t xStart,
                              TickType_t xTimeout )
{
    if( xTimeout == portMAX_DELAY )
    {
        return pdFALSE;
    }

    return ( ( TickType_t ) ( xTaskGetTickCount() - xStart ) >= xTimeout ) ? pdTRUE : pdFALSE;
}

/* The context behind a handle, or NULL when the handle is not a live socket. */
static SimSocket_t * prvContext( Socket_t xSocket )
{
    SimSocket_t * pxCtx = ( SimSocket_t * ) xSocket;

    if( ( xSocket == NULL ) || ( xSocket == SOCKETS_INVALID_SOCKET ) )
    {
        return NULL;
    }

    if( pxCtx->ulMagic != SOCKET_MAGIC )
    {
        return NULL;
    }

    return pxCtx;
}

/* The port that connections to port 443 go to on 127.0.0.1 instead, from
 * AFR_SIM_SOCKETS_PORT_443 (read once, at the first call); 0 when unset or
 * invalid (then nothing is redirected). A test seam: it lets a test see a
 * connection made to port 443 without binding port 443. */
static uint16_t prvPort443Redirect( void )
{
    static volatile int32_t lPort = -1; /* -1: not read yet. */

    if( lPort < 0 )
    {
        const char * pcValue = getenv( "AFR_SIM_SOCKETS_PORT_443" );
        int32_t lFound = 0;

        if( ( pcValue != NULL ) && ( *pcValue != '\0' ) )
        {
            char * pcEnd = NULL;
            unsigned long ulValue = strtoul( pcValue, &pcEnd, 10 );

            if( ( *pcEnd == '\0' ) && ( ulValue >= 1UL ) && ( ulValue <= 65535UL ) )
            {
                lFound = ( int32_t ) ulValue;
            }
            else
            {
                ( void ) fprintf( stderr, "secure sockets: ignoring AFR_SIM_SOCKETS_PORT_443=\"%s\" (not a port)\n", pcValue );
            }
        }

        /* Several tasks may get here at once: they all store the same value. */
        lPort = lFound;
    }

    return ( uint16_t ) lPort;
}

/* Maps a host errno of a failed transfer to an AFR code. */
static int32_t prvTransferError( int iErr )
{
    switch( iErr )
    {
        case ECONNRESET:
        case EPIPE:
        case ENOTCONN:
        case ESHUTDOWN:
        case ECONNABORTED:
        case ETIMEDOUT:
        case EHOSTUNREACH:
        case ENETUNREACH:
            return SOCKETS_ECLOSED;

        case ENOMEM:
        case ENOBUFS:
            return SOCKETS_ENOMEM;

        default:
            return SOCKETS_SOCKET_ERROR;
    }
}

/*-----------------------------------------------------------*/
/* Wake-up callbacks                                           */
/*-----------------------------------------------------------*/

#if ( SOCKETS_SIM_NO_WAKEUP_CALLBACK == 0 )

/* Start-up state of the wake-up machinery. */
    #define WATCH_NONE        0
    #define WATCH_STARTING    1
    #define WATCH_READY       2
    #define WATCH_FAILED      3

    static volatile BaseType_t xWatchState = WATCH_NONE;
    static SemaphoreHandle_t xRegistryLock = NULL; /* Recursive: Close may run inside a callback. */
    static TaskHandle_t xWatcherTask = NULL;
    static SimSocket_t * pxWatchedList = NULL;
    static volatile uint32_t ulRegistryGeneration = 0; /* Bumped when a socket leaves the list. */

/* pdTRUE when the socket has something for the reader: data, EOF or an error. */
    static BaseType_t prvReadable( int iFd )
    {
        struct pollfd xPfd;
        int iRc;

        xPfd.fd = iFd;
        xPfd.events = POLLIN | POLLRDHUP;
        xPfd.revents = 0;

        do
        {
            iRc = poll( &xPfd, 1, 0 );
        } while( ( iRc < 0 ) && ( errno == EINTR ) );

        return ( ( iRc > 0 ) && ( ( xPfd.revents & ( POLLIN | POLLRDHUP | POLLHUP | POLLERR ) ) != 0 ) ) ? pdTRUE : pdFALSE;
    }

/* Once per tick: calls the callback of every armed socket that became
 * readable. Callbacks run with the registry lock held, so SOCKETS_Close (which
 * takes the lock to unregister) never returns while a callback for that socket
 * is running, and no callback starts after it. */
    static void prvWatcherTask( void * pvParameters )
    {
        ( void ) pvParameters;

        for( ; ; )
        {
            BaseType_t xAny;

            ( void ) xSemaphoreTakeRecursive( xRegistryLock, portMAX_DELAY );
            xAny = ( pxWatchedList != NULL ) ? pdTRUE : pdFALSE;

            if( xAny == pdTRUE )
            {
                uint32_t ulGeneration = ulRegistryGeneration;
                SimSocket_t * pxCtx;

                for( pxCtx = pxWatchedList; pxCtx != NULL; pxCtx = pxCtx->pxNextWatched )
                {
                    if( ( pxCtx->xArmed == pdTRUE ) && ( prvReadable( pxCtx->iFd ) == pdTRUE ) )
                    {
                        pxCtx->xArmed = pdFALSE;
                        pxCtx->pxCallback( ( Socket_t ) pxCtx );

                        if( ulGeneration != ulRegistryGeneration )
                        {
                            /* The callback closed or unregistered a socket: the
                             * list may have changed under us. The rest waits
                             * for the next tick. */
                            break;
                        }
                    }
                }
            }

            ( void ) xSemaphoreGiveRecursive( xRegistryLock );

            if( xAny == pdTRUE )
            {
                vTaskDelay( 1 );
            }
            else
            {
                /* Nothing to watch: sleep until a registration. */
                ( void ) ulTaskNotifyTake( pdTRUE, portMAX_DELAY );
            }
        }
    }

#if ( socketsconfigSIM_IDLE_POLLER == 1 )

/* Runs only when every other task is blocked (tskIDLE_PRIORITY, beside the
 * idle task): waits in poll() on the armed sockets, for at most a millisecond
 * at a time so that new registrations are seen, and runs the callbacks of
 * those that became readable. A tick interrupts poll() (EINTR) and lets the
 * scheduler run whatever became ready. */
    static void prvPollerTask( void * pvParameters )
    {
        struct pollfd xFds[ simPOLLER_MAX_SOCKETS ];
        SimSocket_t * pxCtxs[ simPOLLER_MAX_SOCKETS ];

        ( void ) pvParameters;

        for( ; ; )
        {
            size_t xCount = 0;
            size_t i;
            uint32_t ulGeneration;
            int iRc;
            SimSocket_t * pxCtx;

            ( void ) xSemaphoreTakeRecursive( xRegistryLock, portMAX_DELAY );
            ulGeneration = ulRegistryGeneration;

            for( pxCtx = pxWatchedList; ( pxCtx != NULL ) && ( xCount < simPOLLER_MAX_SOCKETS ); pxCtx = pxCtx->pxNextWatched )
            {
                if( pxCtx->xArmed == pdTRUE )
                {
                    xFds[ xCount ].fd = pxCtx->iFd;
                    xFds[ xCount ].events = POLLIN | POLLRDHUP;
                    xFds[ xCount ].revents = 0;
                    pxCtxs[ xCount ] = pxCtx;
                    xCount++;
                }
            }

            ( void ) xSemaphoreGiveRecursive( xRegistryLock );

            if( xCount == 0 )
            {
                vTaskDelay( 1 );
                continue;
            }

            iRc = poll( xFds, ( nfds_t ) xCount, 1 );

            if( iRc <= 0 )
            {
                continue; /* Timeout, or a tick (EINTR). */
            }

            ( void ) xSemaphoreTakeRecursive( xRegistryLock, portMAX_DELAY );

            /* A socket that left the list meanwhile may have had its fd reused:
             * then this round's results are stale; the next round starts over. */
            for( i = 0; ( i < xCount ) && ( ulGeneration == ulRegistryGeneration ); i++ )
            {
                if( ( ( xFds[ i ].revents & ( POLLIN | POLLRDHUP | POLLHUP | POLLERR ) ) != 0 ) &&
                    ( pxCtxs[ i ]->xArmed == pdTRUE ) )
                {
                    pxCtxs[ i ]->xArmed = pdFALSE;
                    pxCtxs[ i ]->pxCallback( ( Socket_t ) pxCtxs[ i ] );
                }
            }

            ( void ) xSemaphoreGiveRecursive( xRegistryLock );
        }
    }

#endif /* socketsconfigSIM_IDLE_POLLER == 1 */

/* Creates the lock and the task once; safe from several tasks at a time. */
    static BaseType_t prvStartWatcher( void )
    {
        BaseType_t xMine = pdFALSE;

        taskENTER_CRITICAL();

        if( xWatchState == WATCH_NONE )
        {
            xWatchState = WATCH_STARTING;
            xMine = pdTRUE;
        }

        taskEXIT_CRITICAL();

        if( xMine == pdTRUE )
        {
            xRegistryLock = xSemaphoreCreateRecursiveMutex();

            if( ( xRegistryLock != NULL ) &&
                ( xTaskCreate( prvWatcherTask, "SockWake", socketsconfigSIM_WAKEUP_TASK_STACK, NULL,
                               socketsconfigSIM_WAKEUP_TASK_PRIORITY, &xWatcherTask ) == pdPASS )
                #if ( socketsconfigSIM_IDLE_POLLER == 1 )
                    && ( xTaskCreate( prvPollerTask, "SockPoll", socketsconfigSIM_WAKEUP_TASK_STACK, NULL,
                                      tskIDLE_PRIORITY, NULL ) == pdPASS )
                #endif
                )
            {
                xWatchState = WATCH_READY;
            }
            else
            {
                if( xRegistryLock != NULL )
                {
                    vSemaphoreDelete( xRegistryLock );
                    xRegistryLock = NULL;
                }

                xWatchState = WATCH_FAILED;
            }
        }
        else
        {
            /* Another task is creating them; it cannot take long. */
            while( xWatchState == WATCH_STARTING )
            {
                vTaskDelay( 1 );
            }
        }

        return ( xWatchState == WATCH_READY ) ? pdPASS : pdFAIL;
    }

/* Takes the socket off the watch list (caller holds the lock). */
    static void prvUnwatchLocked( SimSocket_t * pxCtx )
    {
        SimSocket_t ** ppxLink;

        if( pxCtx->xWatched == pdFALSE )
        {
            return;
        }

        for( ppxLink = &pxWatchedList; *ppxLink != NULL; ppxLink = &( ( *ppxLink )->pxNextWatched ) )
        {
            if( *ppxLink == pxCtx )
            {
                *ppxLink = pxCtx->pxNextWatched;
                break;
            }
        }

        pxCtx->pxNextWatched = NULL;
        pxCtx->xWatched = pdFALSE;
        pxCtx->pxCallback = NULL;
        ulRegistryGeneration++;
    }

    static int32_t prvSetWakeup( SimSocket_t * pxCtx,
                                 const void * pvOptionValue,
                                 size_t xOptionLength )
    {
        if( pvOptionValue == NULL )
        {
            /* Clearing: nothing to do if the machinery never started. */
            if( xWatchState == WATCH_READY )
            {
                ( void ) xSemaphoreTakeRecursive( xRegistryLock, portMAX_DELAY );
                prvUnwatchLocked( pxCtx );
                ( void ) xSemaphoreGiveRecursive( xRegistryLock );
            }

            return SOCKETS_ERROR_NONE;
        }

        if( xOptionLength != sizeof( void * ) )
        {
            return SOCKETS_EINVAL;
        }

        if( prvStartWatcher() != pdPASS )
        {
            return SOCKETS_ENOMEM;
        }

        ( void ) xSemaphoreTakeRecursive( xRegistryLock, portMAX_DELAY );
        /* AFR passes the function pointer itself as the option value. */
        pxCtx->pxCallback = ( WakeupCallback_t ) ( uintptr_t ) pvOptionValue;
        pxCtx->xArmed = pdTRUE;

        if( pxCtx->xWatched == pdFALSE )
        {
            pxCtx->pxNextWatched = pxWatchedList;
            pxWatchedList = pxCtx;
            pxCtx->xWatched = pdTRUE;
        }

        ( void ) xSemaphoreGiveRecursive( xRegistryLock );
        ( void ) xTaskNotifyGive( xWatcherTask );

        return SOCKETS_ERROR_NONE;
    }

    static void prvForget( SimSocket_t * pxCtx )
    {
        if( ( xWatchState == WATCH_READY ) && ( pxCtx->xWatched == pdTRUE ) )
        {
            ( void ) xSemaphoreTakeRecursive( xRegistryLock, portMAX_DELAY );
            prvUnwatchLocked( pxCtx );
            ( void ) xSemaphoreGiveRecursive( xRegistryLock );
        }
    }

#endif /* SOCKETS_SIM_NO_WAKEUP_CALLBACK == 0 */

/*-----------------------------------------------------------*/
/* The API                                                     */
/*-----------------------------------------------------------*/

BaseType_t SOCKETS_Init( void )
{
    #if ( SOCKETS_SIM_NO_WAKEUP_CALLBACK == 0 )
        return prvStartWatcher();
    #else
        return pdPASS;
    #endif
}

/*-----------------------------------------------------------*/

Socket_t SOCKETS_Socket( int32_t lDomain,
                         int32_t lType,
                         int32_t lProtocol )
{
    SimSocket_t * pxCtx;
    int iFd;
    int iOne = 1;

    if( ( lDomain != SOCKETS_AF_INET ) || ( lType != SOCKETS_SOCK_STREAM ) || ( lProtocol != SOCKETS_IPPROTO_TCP ) )
    {
        return SOCKETS_INVALID_SOCKET;
    }

    pxCtx = ( SimSocket_t * ) pvPortMalloc( sizeof( SimSocket_t ) );

    if( pxCtx == NULL )
    {
        return SOCKETS_INVALID_SOCKET;
    }

    iFd = socket( AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP );

    if( iFd < 0 )
    {
        vPortFree( pxCtx );
        return SOCKETS_INVALID_SOCKET;
    }

    /* MQTT exchanges small packets: do not let Nagle hold them back. */
    ( void ) setsockopt( iFd, IPPROTO_TCP, TCP_NODELAY, &iOne, sizeof( iOne ) );

    memset( pxCtx, 0, sizeof( *pxCtx ) );
    pxCtx->ulMagic = SOCKET_MAGIC;
    pxCtx->iFd = iFd;
    pxCtx->eState = eIdle;
    pxCtx->xNonBlocking = pdFALSE;
    pxCtx->xRecvTimeout = prvTimeoutFromOption( ( TickType_t ) socketsconfigDEFAULT_RECV_TIMEOUT );
    pxCtx->xSendTimeout = prvTimeoutFromOption( ( TickType_t ) socketsconfigDEFAULT_SEND_TIMEOUT );
    pxCtx->pxCallback = NULL;
    pxCtx->pxNextWatched = NULL;
    pxCtx->xWatched = pdFALSE;
    pxCtx->xArmed = pdFALSE;

    return ( Socket_t ) pxCtx;
}

/*-----------------------------------------------------------*/

/* TCP is up: the TLS handshake when TLS was required, then connected. */
static int32_t prvConnected( SimSocket_t * pxCtx )
{
    #if ( SOCKETS_SIM_TLS == 1 )
        if( xSimTlsRequired( pxCtx->pxTls ) == pdTRUE )
        {
            int32_t lRc = lSimTlsHandshake( pxCtx->pxTls, pxCtx->iFd, pxCtx->xSendTimeout );

            if( lRc != SOCKETS_ERROR_NONE )
            {
                pxCtx->eState = eFailed;
                return lRc;
            }
        }
        else
        {
            /* Options without SOCKETS_SO_REQUIRE_TLS: a plain connection. */
            vSimTlsDelete( pxCtx->pxTls );
            pxCtx->pxTls = NULL;
        }
    #endif /* if ( SOCKETS_SIM_TLS == 1 ) */

    pxCtx->eState = eConnected;
    return SOCKETS_ERROR_NONE;
}

/* recv() and send() with MSG_DONTWAIT, through TLS when the socket has it. */
static ssize_t prvRawRecv( SimSocket_t * pxCtx,
                           void * pvBuffer,
                           size_t xLength )
{
    #if ( SOCKETS_SIM_TLS == 1 )
        if( pxCtx->pxTls != NULL )
        {
            return xSimTlsRecv( pxCtx->pxTls, pvBuffer, xLength );
        }
    #endif
    return recv( pxCtx->iFd, pvBuffer, xLength, MSG_DONTWAIT );
}

static ssize_t prvRawSend( SimSocket_t * pxCtx,
                           const void * pvBuffer,
                           size_t xLength )
{
    #if ( SOCKETS_SIM_TLS == 1 )
        if( pxCtx->pxTls != NULL )
        {
            return xSimTlsSend( pxCtx->pxTls, pvBuffer, xLength );
        }
    #endif
    /* MSG_NOSIGNAL: a vanished peer is an error code, not SIGPIPE. */
    return send( pxCtx->iFd, pvBuffer, xLength, MSG_NOSIGNAL | MSG_DONTWAIT );
}

int32_t SOCKETS_Connect( Socket_t xSocket,
                         SocketsSockaddr_t * pxAddress,
                         Socklen_t xAddressLength )
{
    SimSocket_t * pxCtx = prvContext( xSocket );
    struct sockaddr_in xDest;
    TickType_t xStart;
    int iRc;

    /* Like AFR's ports, the length is not checked (AFR's own callers pass
     * sizeof( SocketsSockaddr_t ); its qualification tests pass others). */
    ( void ) xAddressLength;

    if( ( pxCtx == NULL ) || ( pxAddress == NULL ) )
    {
        return SOCKETS_EINVAL;
    }

    /* 0 is taken as "not filled in"; anything but IPv4 is refused. */
    if( ( pxAddress->ucSocketDomain != 0U ) && ( pxAddress->ucSocketDomain != ( uint8_t ) SOCKETS_AF_INET ) )
    {
        return SOCKETS_EINVAL;
    }

    if( pxCtx->eState == eConnected )
    {
        return SOCKETS_EISCONN;
    }

    if( pxCtx->eState == eFailed )
    {
        return SOCKETS_SOCKET_ERROR;
    }

    memset( &xDest, 0, sizeof( xDest ) );
    xDest.sin_family = AF_INET;
    xDest.sin_port = pxAddress->usPort;        /* Already network order. */
    xDest.sin_addr.s_addr = pxAddress->ulAddress; /* Already network order. */

    if( xDest.sin_port == htons( 443 ) )
    {
        uint16_t usRedirect = prvPort443Redirect();

        if( usRedirect != 0U )
        {
            xDest.sin_port = htons( usRedirect );
            xDest.sin_addr.s_addr = htonl( INADDR_LOOPBACK );
        }
    }

    xStart = xTaskGetTickCount();
    iRc = connect( pxCtx->iFd, ( const struct sockaddr * ) &xDest, sizeof( xDest ) );

    if( iRc == 0 )
    {
        return prvConnected( pxCtx );
    }

    /* On a non-blocking socket an interrupted connect carries on by itself. */
    if( ( errno != EINPROGRESS ) && ( errno != EINTR ) )
    {
        pxCtx->eState = eFailed;
        return SOCKETS_SOCKET_ERROR;
    }

    for( ; ; )
    {
        struct pollfd xPfd;

        xPfd.fd = pxCtx->iFd;
        xPfd.events = POLLOUT;
        xPfd.revents = 0;
        iRc = poll( &xPfd, 1, 0 );

        if( ( iRc < 0 ) && ( errno != EINTR ) )
        {
            break;
        }

        if( ( iRc > 0 ) && ( xPfd.revents != 0 ) )
        {
            int iErr = 0;
            socklen_t xLen = sizeof( iErr );

            if( ( getsockopt( pxCtx->iFd, SOL_SOCKET, SO_ERROR, &iErr, &xLen ) == 0 ) && ( iErr == 0 ) )
            {
                return prvConnected( pxCtx );
            }

            break; /* Refused, unreachable, ... */
        }

        if( prvExpired( xStart, pxCtx->xSendTimeout ) == pdTRUE )
        {
            break;
        }

        vTaskDelay( 1 );
    }

    pxCtx->eState = eFailed;
    return SOCKETS_SOCKET_ERROR;
}

/*-----------------------------------------------------------*/

int32_t SOCKETS_Recv( Socket_t xSocket,
                      void * pvBuffer,
                      size_t xBufferLength,
                      uint32_t ulFlags )
{
    SimSocket_t * pxCtx = prvContext( xSocket );
    TickType_t xStart;
    int32_t lResult;

    ( void ) ulFlags; /* AFR defines no flags. */

    if( ( pxCtx == NULL ) || ( pvBuffer == NULL ) || ( xBufferLength == 0U ) )
    {
        return SOCKETS_EINVAL;
    }

    if( pxCtx->eState != eConnected )
    {
        return SOCKETS_ENOTCONN;
    }

    /* An int32_t return cannot report more. */
    if( xBufferLength > ( size_t ) INT32_MAX )
    {
        xBufferLength = ( size_t ) INT32_MAX;
    }

    xStart = xTaskGetTickCount();

    for( ; ; )
    {
        ssize_t xGot = prvRawRecv( pxCtx, pvBuffer, xBufferLength );

        if( xGot > 0 )
        {
            lResult = ( int32_t ) xGot;
            break;
        }

        if( xGot == 0 )
        {
            /* Orderly end of stream (the peer closed, or we shut down reading). */
            lResult = SOCKETS_ECLOSED;
            break;
        }

        if( errno == EINTR )
        {
            continue;
        }

        if( ( errno != EAGAIN ) && ( errno != EWOULDBLOCK ) )
        {
            lResult = prvTransferError( errno );
            break;
        }

        if( ( pxCtx->xNonBlocking == pdTRUE ) || ( prvExpired( xStart, pxCtx->xRecvTimeout ) == pdTRUE ) )
        {
            lResult = 0; /* Nothing within the timeout. */
            break;
        }

        vTaskDelay( 1 );
    }

    /* The owner has looked at the socket: whatever is readable from now on
     * (data left behind, new data, EOF) is news for the wake-up callback.
     * Armed after reading, so a callback never announces the data this very
     * call consumed; data that slips in before the arming is announced on
     * the watcher's next tick. */
    pxCtx->xArmed = pdTRUE;

    return lResult;
}

/*-----------------------------------------------------------*/

int32_t SOCKETS_Send( Socket_t xSocket,
                      const void * pvBuffer,
                      size_t xDataLength,
                      uint32_t ulFlags )
{
    SimSocket_t * pxCtx = prvContext( xSocket );
    const uint8_t * pucData = ( const uint8_t * ) pvBuffer;
    size_t xSent = 0;
    TickType_t xStart;

    ( void ) ulFlags; /* AFR defines no flags. */

    if( ( pxCtx == NULL ) || ( pvBuffer == NULL ) || ( xDataLength == 0U ) )
    {
        return SOCKETS_EINVAL;
    }

    if( pxCtx->eState != eConnected )
    {
        return SOCKETS_ENOTCONN;
    }

    if( xDataLength > ( size_t ) INT32_MAX )
    {
        xDataLength = ( size_t ) INT32_MAX;
    }

    xStart = xTaskGetTickCount();

    while( xSent < xDataLength )
    {
        ssize_t xPut = prvRawSend( pxCtx, pucData + xSent, xDataLength - xSent );

        if( xPut > 0 )
        {
            xSent += ( size_t ) xPut;
            continue;
        }

        if( ( xPut < 0 ) && ( errno == EINTR ) )
        {
            continue;
        }

        if( ( xPut < 0 ) && ( errno != EAGAIN ) && ( errno != EWOULDBLOCK ) )
        {
            /* Report what went out; the error shows on the next call. */
            return ( xSent > 0U ) ? ( int32_t ) xSent : prvTransferError( errno );
        }

        /* The host's send buffer is full. */
        if( ( pxCtx->xNonBlocking == pdTRUE ) || ( prvExpired( xStart, pxCtx->xSendTimeout ) == pdTRUE ) )
        {
            break;
        }

        vTaskDelay( 1 );
    }

    return ( int32_t ) xSent; /* 0 when nothing fitted within the timeout. */
}

/*-----------------------------------------------------------*/

int32_t SOCKETS_Shutdown( Socket_t xSocket,
                          uint32_t ulHow )
{
    SimSocket_t * pxCtx = prvContext( xSocket );
    int iHow;

    if( pxCtx == NULL )
    {
        return SOCKETS_EINVAL;
    }

    switch( ulHow )
    {
        case SOCKETS_SHUT_RD:
            iHow = SHUT_RD;
            break;

        case SOCKETS_SHUT_WR:
            iHow = SHUT_WR;
            break;

        case SOCKETS_SHUT_RDWR:
            iHow = SHUT_RDWR;
            break;

        default:
            return SOCKETS_EINVAL;
    }

    if( pxCtx->eState != eConnected )
    {
        return SOCKETS_ENOTCONN;
    }

    #if ( SOCKETS_SIM_TLS == 1 )
        if( iHow != SHUT_RD )
        {
            vSimTlsCloseNotify( pxCtx->pxTls );
        }
    #endif

    if( shutdown( pxCtx->iFd, iHow ) != 0 )
    {
        return ( errno == ENOTCONN ) ? SOCKETS_ENOTCONN : SOCKETS_SOCKET_ERROR;
    }

    return SOCKETS_ERROR_NONE;
}

/*-----------------------------------------------------------*/

int32_t SOCKETS_Close( Socket_t xSocket )
{
    SimSocket_t * pxCtx = prvContext( xSocket );

    if( pxCtx == NULL )
    {
        return SOCKETS_EINVAL;
    }

    #if ( SOCKETS_SIM_NO_WAKEUP_CALLBACK == 0 )
        /* After this no callback runs or starts for this socket. */
        prvForget( pxCtx );
    #endif

    pxCtx->ulMagic = 0;
    #if ( SOCKETS_SIM_TLS == 1 )
        vSimTlsDelete( pxCtx->pxTls );
        pxCtx->pxTls = NULL;
    #endif
    ( void ) close( pxCtx->iFd );
    pxCtx->iFd = -1;
    vPortFree( pxCtx );

    return SOCKETS_ERROR_NONE;
}

/*-----------------------------------------------------------*/

int32_t SOCKETS_SetSockOpt( Socket_t xSocket,
                            int32_t lLevel,
                            int32_t lOptionName,
                            const void * pvOptionValue,
                            size_t xOptionLength )
{
    SimSocket_t * pxCtx = prvContext( xSocket );

    ( void ) lLevel; /* Unused in AFR. */

    if( pxCtx == NULL )
    {
        return SOCKETS_EINVAL;
    }

    switch( lOptionName )
    {
        case SOCKETS_SO_RCVTIMEO:
        case SOCKETS_SO_SNDTIMEO:
           {
               TickType_t xTicks;

               if( ( pvOptionValue == NULL ) || ( xOptionLength < sizeof( TickType_t ) ) )
               {
                   return SOCKETS_EINVAL;
               }

               memcpy( &xTicks, pvOptionValue, sizeof( xTicks ) );

               if( lOptionName == SOCKETS_SO_RCVTIMEO )
               {
                   pxCtx->xRecvTimeout = prvTimeoutFromOption( xTicks );
               }
               else
               {
                   pxCtx->xSendTimeout = prvTimeoutFromOption( xTicks );
               }

               return SOCKETS_ERROR_NONE;
           }

        case SOCKETS_SO_NONBLOCK:
            /* As in AFR, the value is not looked at and there is no way back. */
            pxCtx->xNonBlocking = pdTRUE;
            return SOCKETS_ERROR_NONE;

        case SOCKETS_SO_WAKEUP_CALLBACK:
            #if ( SOCKETS_SIM_NO_WAKEUP_CALLBACK == 0 )
                return prvSetWakeup( pxCtx, pvOptionValue, xOptionLength );
            #else
                ( void ) pvOptionValue;
                ( void ) xOptionLength;
                return SOCKETS_ENOPROTOOPT;
            #endif

        case SOCKETS_SO_REQUIRE_TLS:
        case SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE:
        case SOCKETS_SO_SERVER_NAME_INDICATION:
        case SOCKETS_SO_ALPN_PROTOCOLS:
            #if ( SOCKETS_SIM_TLS == 1 )
                if( pxCtx->eState != eIdle )
                {
                    return SOCKETS_EISCONN; /* TLS options come before the connect. */
                }

                if( pxCtx->pxTls == NULL )
                {
                    pxCtx->pxTls = pxSimTlsCreate();
                }

                return ( pxCtx->pxTls == NULL ) ? SOCKETS_ENOMEM :
                       lSimTlsSetOption( pxCtx->pxTls, lOptionName, pvOptionValue, xOptionLength );
            #else
                /* This variant has no TLS; never pretend to do it here. */
                return SOCKETS_ENOPROTOOPT;
            #endif

        default:
            return SOCKETS_ENOPROTOOPT;
    }
}

/*-----------------------------------------------------------*/

uint32_t SOCKETS_GetHostByName( const char * pcHostName )
{
    struct addrinfo xHints;
    struct addrinfo * pxResults = NULL;
    struct addrinfo * pxIt;
    struct in_addr xLiteral;
    uint32_t ulAddress = 0;
    size_t xLen;

    if( pcHostName == NULL )
    {
        return 0;
    }

    xLen = strnlen( pcHostName, ( size_t ) securesocketsMAX_DNS_NAME_LENGTH + 1U );

    if( ( xLen == 0U ) || ( xLen > ( size_t ) securesocketsMAX_DNS_NAME_LENGTH ) )
    {
        return 0;
    }

    /* A dotted quad needs no lookup. */
    if( inet_pton( AF_INET, pcHostName, &xLiteral ) == 1 )
    {
        return ( uint32_t ) xLiteral.s_addr;
    }

    memset( &xHints, 0, sizeof( xHints ) );
    xHints.ai_family = AF_INET;
    xHints.ai_socktype = SOCK_STREAM;

    /* The host resolver may block this task (not the others of higher
     * priority) while it asks a DNS server. */
    if( getaddrinfo( pcHostName, NULL, &xHints, &pxResults ) != 0 )
    {
        return 0;
    }

    for( pxIt = pxResults; pxIt != NULL; pxIt = pxIt->ai_next )
    {
        if( ( pxIt->ai_family == AF_INET ) && ( pxIt->ai_addr != NULL ) )
        {
            ulAddress = ( uint32_t ) ( ( const struct sockaddr_in * ) pxIt->ai_addr )->sin_addr.s_addr;
            break;
        }
    }

    freeaddrinfo( pxResults );

    return ulAddress;
}
