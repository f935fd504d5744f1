/*
 * Self-test of the broker harness (tests/tools/run_with_broker.py) and of
 * tests/common/test_support, from a FreeRTOS POSIX simulator program, the way
 * the agent's integration tests will use them. MQTT is spoken by hand over
 * plain non-blocking BSD sockets (poll with a zero timeout, vTaskDelay(1)
 * between attempts, MSG_NOSIGNAL).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "FreeRTOS.h"
#include "task.h"

#include "test_support.h"

#define IO_TIMEOUT    ( ( TickType_t ) 5000 )

/* CONNECT, MQTT 3.1.1, clean session, keep-alive 60 s, client id cid. */
static size_t prvConnectPacket( uint8_t * pucBuf, const char * pcClientId )
{
    size_t xIdLen = strlen( pcClientId );
    size_t i = 0;

    pucBuf[ i++ ] = 0x10;
    pucBuf[ i++ ] = ( uint8_t ) ( 10U + 2U + xIdLen ); /* ids < 100 chars */
    pucBuf[ i++ ] = 0x00;
    pucBuf[ i++ ] = 0x04;
    memcpy( &pucBuf[ i ], "MQTT", 4 );
    i += 4;
    pucBuf[ i++ ] = 0x04; /* level 3.1.1 */
    pucBuf[ i++ ] = 0x02; /* clean session */
    pucBuf[ i++ ] = 0x00;
    pucBuf[ i++ ] = 60;   /* keep-alive */
    pucBuf[ i++ ] = 0x00;
    pucBuf[ i++ ] = ( uint8_t ) xIdLen;
    memcpy( &pucBuf[ i ], pcClientId, xIdLen );
    return i + xIdLen;
}

static const uint8_t ucConnackOk[] = { 0x20, 0x02, 0x00, 0x00 };
static const uint8_t ucPingreq[] = { 0xC0, 0x00 };
static const uint8_t ucPingresp[] = { 0xD0, 0x00 };

/* ---- non-blocking socket helpers ---- */

/* Connects to 127.0.0.1:usPort. Returns the socket, or -1 (with errno) if the
 * connection failed or did not complete in time. */
static int prvConnect( uint16_t usPort )
{
    struct sockaddr_in xAddr;
    int lFd = socket( AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0 );
    int lOne = 1;
    int lRc;

    if( lFd < 0 )
    {
        return -1;
    }

    ( void ) setsockopt( lFd, IPPROTO_TCP, TCP_NODELAY, &lOne, sizeof( lOne ) );
    memset( &xAddr, 0, sizeof( xAddr ) );
    xAddr.sin_family = AF_INET;
    xAddr.sin_port = htons( usPort );
    xAddr.sin_addr.s_addr = htonl( INADDR_LOOPBACK );

    do
    {
        lRc = connect( lFd, ( struct sockaddr * ) &xAddr, sizeof( xAddr ) );
    } while( ( lRc != 0 ) && ( errno == EINTR ) );

    if( ( lRc != 0 ) && ( errno == EINPROGRESS ) )
    {
        TickType_t xStart = xTaskGetTickCount();

        for( ; ; )
        {
            struct pollfd xPoll = { .fd = lFd, .events = POLLOUT, .revents = 0 };

            if( poll( &xPoll, 1, 0 ) > 0 )
            {
                int lErr = 0;
                socklen_t xLen = sizeof( lErr );

                ( void ) getsockopt( lFd, SOL_SOCKET, SO_ERROR, &lErr, &xLen );
                lRc = ( lErr == 0 ) ? 0 : -1;
                errno = lErr;
                break;
            }

            if( ( xTaskGetTickCount() - xStart ) > IO_TIMEOUT )
            {
                errno = ETIMEDOUT;
                break;
            }

            vTaskDelay( 1 );
        }
    }

    if( lRc != 0 )
    {
        int lErr = errno;

        ( void ) close( lFd );
        errno = lErr;
        return -1;
    }

    return lFd;
}

static BaseType_t prvSendAll( int lFd, const uint8_t * pucData, size_t xLen )
{
    TickType_t xStart = xTaskGetTickCount();

    while( xLen > 0U )
    {
        ssize_t xN = send( lFd, pucData, xLen, MSG_NOSIGNAL | MSG_DONTWAIT );

        if( xN > 0 )
        {
            pucData += xN;
            xLen -= ( size_t ) xN;
        }
        else if( ( xN < 0 ) && ( errno != EAGAIN ) && ( errno != EWOULDBLOCK ) && ( errno != EINTR ) )
        {
            return pdFAIL;
        }
        else if( ( xTaskGetTickCount() - xStart ) > IO_TIMEOUT )
        {
            return pdFAIL;
        }
        else
        {
            vTaskDelay( 1 );
        }
    }

    return pdPASS;
}

typedef enum
{
    RX_OK,      /* got all the bytes */
    RX_TIMEOUT, /* not all within the time */
    RX_EOF,     /* the peer closed (FIN) */
    RX_RESET    /* the connection was reset / failed */
} RxResult_t;

static const char * prvRxName( RxResult_t xRx )
{
    static const char * const pcNames[] = { "ok", "timeout", "eof", "reset" };

    return pcNames[ xRx ];
}

/* Receives exactly xLen bytes within xTimeout ticks; *pxGot: how many came. */
static RxResult_t prvRecvExact( int lFd,
                                uint8_t * pucBuf,
                                size_t xLen,
                                TickType_t xTimeout,
                                size_t * pxGot )
{
    TickType_t xStart = xTaskGetTickCount();
    size_t xGot = 0;
    RxResult_t xResult = RX_OK;

    while( xGot < xLen )
    {
        ssize_t xN = recv( lFd, pucBuf + xGot, xLen - xGot, MSG_DONTWAIT );

        if( xN > 0 )
        {
            xGot += ( size_t ) xN;
            continue;
        }

        if( xN == 0 )
        {
            xResult = RX_EOF;
            break;
        }

        if( ( errno != EAGAIN ) && ( errno != EWOULDBLOCK ) && ( errno != EINTR ) )
        {
            xResult = RX_RESET;
            break;
        }

        if( ( xTaskGetTickCount() - xStart ) >= xTimeout )
        {
            xResult = RX_TIMEOUT;
            break;
        }

        vTaskDelay( 1 );
    }

    if( pxGot != NULL )
    {
        *pxGot = xGot;
    }

    return xResult;
}

/* Expects exactly the bytes pucWant next. */
static BaseType_t prvExpect( int lFd, const uint8_t * pucWant, size_t xLen, const char * pcWhat )
{
    uint8_t ucBuf[ 64 ];
    size_t xGot = 0;
    RxResult_t xRx;

    configASSERT( xLen <= sizeof( ucBuf ) );
    xRx = prvRecvExact( lFd, ucBuf, xLen, IO_TIMEOUT, &xGot );

    if( ( xRx != RX_OK ) || ( memcmp( ucBuf, pucWant, xLen ) != 0 ) )
    {
        char cHex[ 3 * sizeof( ucBuf ) + 1 ] = "";

        for( size_t i = 0; i < xGot; i++ )
        {
            snprintf( &cHex[ 3 * i ], 4, "%02x ", ucBuf[ i ] );
        }

        vTestNote( "%s: %s after %u byte(s): %s", pcWhat, prvRxName( xRx ), ( unsigned ) xGot, cHex );
        return pdFAIL;
    }

    return pdPASS;
}

/* Waits until the peer closes: returns RX_EOF or RX_RESET, or RX_TIMEOUT (or
 * RX_OK if data came instead). */
static RxResult_t prvWaitClosed( int lFd, TickType_t xTimeout )
{
    uint8_t ucByte;

    return prvRecvExact( lFd, &ucByte, 1, xTimeout, NULL );
}

/* Connects and does the MQTT handshake; returns the socket or -1. */
static int prvMqttConnect( uint16_t usPort, const char * pcClientId )
{
    uint8_t ucConnect[ 128 ];
    size_t xLen = prvConnectPacket( ucConnect, pcClientId );
    int lFd = prvConnect( usPort );

    if( lFd < 0 )
    {
        vTestNote( "connect to port %u failed: errno %d", ( unsigned ) usPort, errno );
        return -1;
    }

    if( ( prvSendAll( lFd, ucConnect, xLen ) != pdPASS ) ||
        ( prvExpect( lFd, ucConnackOk, sizeof( ucConnackOk ), "CONNACK" ) != pdPASS ) )
    {
        ( void ) close( lFd );
        return -1;
    }

    return lFd;
}

static BaseType_t prvControl( const char * pcCommand )
{
    return xTestControl( pcCommand, NULL, 0, TEST_CONTROL_TIMEOUT );
}

/* ---- test cases ---- */

static void test_control_channel( void )
{
    char cResult[ 1024 ];

    TEST_CHECK( prvControl( "ping" ) == pdPASS );

    TEST_CHECK( xTestControl( "no-such-command", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdFAIL );
    TEST_CHECK( strncmp( cResult, "error:", 6 ) == 0 );

    TEST_CHECK( xTestControl( "fake-script refuse-connack", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdFAIL );

    TEST_ASSERT( xTestControl( "broker-log-tail 3", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( strstr( cResult, "mosquitto" ) != NULL || strstr( cResult, "onnection" ) != NULL );
    TEST_CHECK( cResult[ 0 ] != '\0' && cResult[ strlen( cResult ) - 1 ] != '\n' );

    /* Truncation keeps a terminated string. */
    TEST_CHECK( xTestControl( "broker-log-tail 3", cResult, 5, TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( strlen( cResult ) == 4 );
}

static void test_broker_connack( void )
{
    int lFd = prvMqttConnect( usTestBrokerPort(), "harness-1" );

    TEST_ASSERT( lFd >= 0 );
    TEST_CHECK( prvSendAll( lFd, ucPingreq, sizeof( ucPingreq ) ) == pdPASS );
    TEST_CHECK( prvExpect( lFd, ucPingresp, sizeof( ucPingresp ), "PINGRESP" ) == pdPASS );
    ( void ) close( lFd );
}

static void test_broker_stop_start( void )
{
    RxResult_t xRx;
    int lFd = prvMqttConnect( usTestBrokerPort(), "harness-2" );

    TEST_ASSERT( lFd >= 0 );
    TEST_ASSERT( prvControl( "broker-stop" ) == pdPASS );
    xRx = prvWaitClosed( lFd, IO_TIMEOUT );
    TEST_CHECK_MSG( xRx == RX_EOF || xRx == RX_RESET, "after broker-stop: %s", prvRxName( xRx ) );
    ( void ) close( lFd );

    /* Nobody listens now. */
    lFd = prvConnect( usTestBrokerPort() );
    TEST_CHECK( lFd < 0 );

    if( lFd >= 0 )
    {
        ( void ) close( lFd );
    }

    TEST_CHECK( prvControl( "broker-stop" ) == pdFAIL ); /* not running */

    TEST_ASSERT( prvControl( "broker-start" ) == pdPASS );
    lFd = prvMqttConnect( usTestBrokerPort(), "harness-3" );
    TEST_ASSERT( lFd >= 0 );

    /* SIGKILL: the kernel closes the broker's sockets. */
    TEST_ASSERT( prvControl( "broker-kill" ) == pdPASS );
    xRx = prvWaitClosed( lFd, IO_TIMEOUT );
    TEST_CHECK_MSG( xRx == RX_EOF || xRx == RX_RESET, "after broker-kill: %s", prvRxName( xRx ) );
    ( void ) close( lFd );

    TEST_ASSERT( prvControl( "broker-start" ) == pdPASS );
    lFd = prvMqttConnect( usTestBrokerPort(), "harness-4" );
    TEST_CHECK( lFd >= 0 );

    if( lFd >= 0 )
    {
        ( void ) close( lFd );
    }
}

static void test_relay_freeze_thaw_reset( void )
{
    uint8_t ucBuf[ 2 ];
    size_t xGot = 0;
    RxResult_t xRx;
    int lFd = prvMqttConnect( usTestRelayPort(), "harness-relay" );

    TEST_ASSERT( lFd >= 0 );
    TEST_CHECK( prvSendAll( lFd, ucPingreq, sizeof( ucPingreq ) ) == pdPASS );
    TEST_CHECK( prvExpect( lFd, ucPingresp, sizeof( ucPingresp ), "PINGRESP (relay)" ) == pdPASS );

    /* Frozen: the PINGREQ is held back, no PINGRESP, the connection stays up. */
    TEST_ASSERT( prvControl( "relay-freeze" ) == pdPASS );
    TEST_CHECK( prvSendAll( lFd, ucPingreq, sizeof( ucPingreq ) ) == pdPASS );
    xRx = prvRecvExact( lFd, ucBuf, sizeof( ucBuf ), 300, &xGot );
    TEST_CHECK_MSG( xRx == RX_TIMEOUT && xGot == 0, "frozen relay: %s, %u byte(s)", prvRxName( xRx ), ( unsigned ) xGot );

    /* Thawed: what was held back goes through. */
    TEST_ASSERT( prvControl( "relay-thaw" ) == pdPASS );
    TEST_CHECK( prvExpect( lFd, ucPingresp, sizeof( ucPingresp ), "PINGRESP after thaw" ) == pdPASS );

    /* Reset: the client sees a connection reset. */
    TEST_ASSERT( prvControl( "relay-reset" ) == pdPASS );
    xRx = prvWaitClosed( lFd, IO_TIMEOUT );
    TEST_CHECK_MSG( xRx == RX_RESET, "after relay-reset: %s", prvRxName( xRx ) );
    ( void ) close( lFd );

    /* The relay still relays new connections. */
    lFd = prvMqttConnect( usTestRelayPort(), "harness-relay2" );
    TEST_CHECK( lFd >= 0 );

    if( lFd >= 0 )
    {
        ( void ) close( lFd );
    }
}

static void test_fake_garbage_and_last_connect( void )
{
    static const uint8_t ucGarbage[] = { 0xF0, 0x00 };
    uint8_t ucConnect[ 128 ];
    char cHex[ 2 * sizeof( ucConnect ) + 1 ];
    char cResult[ 512 ];
    size_t xLen = prvConnectPacket( ucConnect, "harness-fake" );
    int lFd;

    for( size_t i = 0; i < xLen; i++ )
    {
        snprintf( &cHex[ 2 * i ], 3, "%02x", ucConnect[ i ] );
    }

    TEST_ASSERT( prvControl( "fake-script connack-then-garbage" ) == pdPASS );
    lFd = prvConnect( usTestFakePort() );
    TEST_ASSERT( lFd >= 0 );
    TEST_CHECK( prvSendAll( lFd, ucConnect, xLen ) == pdPASS );
    TEST_CHECK( prvExpect( lFd, ucConnackOk, sizeof( ucConnackOk ), "CONNACK (fake)" ) == pdPASS );
    TEST_CHECK( prvExpect( lFd, ucGarbage, sizeof( ucGarbage ), "garbage" ) == pdPASS );
    ( void ) close( lFd );

    TEST_ASSERT( xTestControl( "fake-last-connect", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK_MSG( strcmp( cResult, cHex ) == 0, "last CONNECT %s, sent %s", cResult, cHex );
}

static void test_fake_other_scripts( void )
{
    static const uint8_t ucRefused[] = { 0x20, 0x02, 0x00, 0x05 };
    static const uint8_t ucBadLength[] = { 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 };
    static const uint8_t ucSubscribe[] = { 0x82, 0x08, 0x00, 0x2A, 0x00, 0x03, 'a', '/', 'b', 0x01 };
    static const uint8_t ucSuback[] = { 0x90, 0x03, 0x00, 0x2A, 0x01 };
    static const uint8_t ucPublish[] = { 0x32, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'x' };
    static const uint8_t ucPuback[] = { 0x40, 0x02, 0x00, 0x07 };
    uint8_t ucConnect[ 128 ];
    uint8_t ucBuf[ 4 ];
    size_t xLen = prvConnectPacket( ucConnect, "harness-fake2" );
    size_t xGot = 0;
    RxResult_t xRx;
    int lFd;

    /* refuse-connack N */
    TEST_ASSERT( prvControl( "fake-script refuse-connack 5" ) == pdPASS );
    lFd = prvConnect( usTestFakePort() );
    TEST_ASSERT( lFd >= 0 );
    TEST_CHECK( prvSendAll( lFd, ucConnect, xLen ) == pdPASS );
    TEST_CHECK( prvExpect( lFd, ucRefused, sizeof( ucRefused ), "refused CONNACK" ) == pdPASS );
    ( void ) close( lFd );

    /* no-connack */
    TEST_ASSERT( prvControl( "fake-script no-connack" ) == pdPASS );
    lFd = prvConnect( usTestFakePort() );
    TEST_ASSERT( lFd >= 0 );
    TEST_CHECK( prvSendAll( lFd, ucConnect, xLen ) == pdPASS );
    xRx = prvRecvExact( lFd, ucBuf, 1, 300, &xGot );
    TEST_CHECK_MSG( xRx == RX_TIMEOUT, "no-connack: %s", prvRxName( xRx ) );
    ( void ) close( lFd );

    /* connack-then-bad-length */
    TEST_ASSERT( prvControl( "fake-script connack-then-bad-length" ) == pdPASS );
    lFd = prvMqttConnect( usTestFakePort(), "harness-fake3" );
    TEST_ASSERT( lFd >= 0 );
    TEST_CHECK( prvExpect( lFd, ucBadLength, sizeof( ucBadLength ), "bad length" ) == pdPASS );
    ( void ) close( lFd );

    /* connack-then-close */
    TEST_ASSERT( prvControl( "fake-script connack-then-close" ) == pdPASS );
    lFd = prvMqttConnect( usTestFakePort(), "harness-fake4" );
    TEST_ASSERT( lFd >= 0 );
    xRx = prvWaitClosed( lFd, IO_TIMEOUT );
    TEST_CHECK_MSG( xRx == RX_EOF, "connack-then-close: %s", prvRxName( xRx ) );
    ( void ) close( lFd );

    /* no-pingresp */
    TEST_ASSERT( prvControl( "fake-script no-pingresp" ) == pdPASS );
    lFd = prvMqttConnect( usTestFakePort(), "harness-fake5" );
    TEST_ASSERT( lFd >= 0 );
    TEST_CHECK( prvSendAll( lFd, ucPingreq, sizeof( ucPingreq ) ) == pdPASS );
    xRx = prvRecvExact( lFd, ucBuf, 1, 300, &xGot );
    TEST_CHECK_MSG( xRx == RX_TIMEOUT, "no-pingresp: %s", prvRxName( xRx ) );
    ( void ) close( lFd );

    /* normal-connack: SUBACK, PUBACK, PINGRESP */
    TEST_ASSERT( prvControl( "fake-script normal-connack" ) == pdPASS );
    lFd = prvMqttConnect( usTestFakePort(), "harness-fake6" );
    TEST_ASSERT( lFd >= 0 );
    TEST_CHECK( prvSendAll( lFd, ucSubscribe, sizeof( ucSubscribe ) ) == pdPASS );
    TEST_CHECK( prvExpect( lFd, ucSuback, sizeof( ucSuback ), "SUBACK" ) == pdPASS );
    TEST_CHECK( prvSendAll( lFd, ucPublish, sizeof( ucPublish ) ) == pdPASS );
    TEST_CHECK( prvExpect( lFd, ucPuback, sizeof( ucPuback ), "PUBACK" ) == pdPASS );
    TEST_CHECK( prvSendAll( lFd, ucPingreq, sizeof( ucPingreq ) ) == pdPASS );
    TEST_CHECK( prvExpect( lFd, ucPingresp, sizeof( ucPingresp ), "PINGRESP (fake)" ) == pdPASS );
    ( void ) close( lFd );
}

/* The kit itself, run only when asked: "--kit-demo" must print the check and
 * assertion failures, skip the rest of the case, end with "0 passed, 1 failed"
 * and exit 1; "--watchdog-demo" must be ended by the watchdog (exit 1).
 * tests/harness/check_kit.py checks both. */
static void demo_failing_case( void )
{
    TEST_CHECK( 1 == 2 );
    TEST_ASSERT( 0 );
    printf( "UNREACHABLE after TEST_ASSERT\n" );
}

static int lArgc;
static char ** ppcArgv;

static void prvBody( void )
{
    if( ( lArgc > 1 ) && ( strcmp( ppcArgv[ 1 ], "--kit-demo" ) == 0 ) )
    {
        vTestRun( "demo_failing_case", demo_failing_case );
        return;
    }

    if( ( lArgc > 1 ) && ( strcmp( ppcArgv[ 1 ], "--watchdog-demo" ) == 0 ) )
    {
        for( ; ; )
        {
            vTaskDelay( 100 );
        }
    }

    vTestRun( "control_channel", test_control_channel );
    vTestRun( "broker_connack", test_broker_connack );
    vTestRun( "broker_stop_start", test_broker_stop_start );
    vTestRun( "relay_freeze_thaw_reset", test_relay_freeze_thaw_reset );
    vTestRun( "fake_garbage_and_last_connect", test_fake_garbage_and_last_connect );
    vTestRun( "fake_other_scripts", test_fake_other_scripts );
}

int main( int argc, char ** argv )
{
    lArgc = argc;
    ppcArgv = argv;
    vTestMain( prvBody, ( argc > 1 && strcmp( argv[ 1 ], "--watchdog-demo" ) == 0 ) ? 500 : 60000 );
}
