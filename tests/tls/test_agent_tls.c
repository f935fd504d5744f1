/*
 * TLS through the MQTT agent's unchanged API, under the FreeRTOS POSIX
 * simulator, against Mosquitto's TLS listeners (client certificates required)
 * and a TLS server that records ClientHellos, all with certificates generated
 * at test time (tests/tools/tls_certs.py, run by tests/tools/run_with_broker.py
 * --tls --alpn --fake).
 *
 * The program is linked with a credential shim built from the v1.4-style
 * credential header (keyCLIENT_*: RSA key in PKCS#1), or with TLS_TEST_V10
 * from the v1.0-style one (static const char arrays: P-256 key in SEC1), and
 * then only runs the cases that use the header's identity.
 */
#include <malloc.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "aws_mqtt_agent.h"
#include "aws_mqtt_agent_tls.h"
#include "aws_mqtt_agent_config.h"
#include "aws_mqtt_agent_config_defaults.h"

#include "afr_selftest.h"
#include "agent_util.h"
#include "test_support.h"

#define NUM_BUFFERS    ( bufferpoolconfigNUM_BUFFERS )
#define PEM_MAX        8192

/* A failing connect must fail well within this (it is not a timeout). */
#define PROMPT_TICKS    pdMS_TO_TICKS( 2000 )

typedef struct
{
    char cText[ PEM_MAX ];
    uint32_t ulSize; /* With the NUL, as AFR projects pass sizeof( a literal ). */
} Pem_t;

static Pem_t xCa, xClientEcCert, xClientEcKey, xOtherCert, xOtherKey;
static MQTTAgentHandle_t xClient = NULL;
static volatile int iReceived = 0;
static volatile int iDisconnects = 0;

/*------------------------------------- helpers -------------------------------------*/

static void prvLoad( Pem_t * pxPem, const char * pcFile )
{
    char cPath[ 512 ];
    const char * pcDir = getenv( "AFR_TEST_TLS_DIR" );
    FILE * pxF;
    size_t xN;

    TEST_ASSERT( pcDir != NULL );
    snprintf( cPath, sizeof( cPath ), "%s/%s", pcDir, pcFile );
    pxF = fopen( cPath, "rb" );
    TEST_ASSERT( pxF != NULL );
    xN = fread( pxPem->cText, 1, sizeof( pxPem->cText ) - 1, pxF );
    fclose( pxF );
    TEST_ASSERT( xN > 0 && xN < sizeof( pxPem->cText ) - 1 );
    pxPem->cText[ xN ] = '\0';
    pxPem->ulSize = ( uint32_t ) xN + 1;
}

static BaseType_t prvConnectCallback( void * pvUserData, const MQTTAgentCallbackParams_t * const pxParams )
{
    ( void ) pvUserData;

    if( pxParams->xMQTTEvent == eMQTTAgentDisconnect )
    {
        iDisconnects++;
    }

    return pdFALSE;
}

static MQTTBool_t prvOnPublish( void * pvCtx, const MQTTPublishData_t * const pxData )
{
    ( void ) pvCtx;
    ( void ) pxData;
    iReceived++;
    return eMQTTFalse;
}

/* Connects xClient over TLS to pcHost:usPort. */
static MQTTAgentReturnCode_t prvConnect( const char * pcHost,
                                         BaseType_t xFlags,
                                         uint16_t usPort,
                                         const Pem_t * pxTrust,
                                         TickType_t xTimeout )
{
    MQTTAgentConnectParams_t xParams =
    {
        .pcURL             = pcHost,
        .xFlags            = xFlags,
        .usPort            = usPort,
        .pucClientId       = ( const uint8_t * ) "afr-tls-test",
        .usClientIdLength  = 12,
        .pxCallback        = prvConnectCallback,
        .pcCertificate     = pxTrust ? ( char * ) pxTrust->cText : NULL,
        .ulCertificateSize = pxTrust ? pxTrust->ulSize : 0,
    };

    return MQTT_AGENT_Connect( xClient, &xParams, xTimeout );
}

static MQTTAgentTLSError_t prvTlsError( void )
{
    MQTTAgentTLSError_t xError = eMQTTAgentTLSNotBuilt;

    TEST_CHECK( MQTT_AGENT_GetTLSError( xClient, &xError ) == eMQTTAgentSuccess );
    return xError;
}

/* Subscribes, publishes at QoS 1 and gets it back, then disconnects. */
static void prvRoundTripAndDisconnect( const char * pcTopic )
{
    iReceived = 0;
    TEST_CHECK( xUtilSubscribe( xClient, pcTopic, eMQTTQoS1, prvOnPublish, NULL ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, pcTopic, eMQTTQoS1, "over tls", 8, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &iReceived, 1, T_TIMEOUT ) == pdTRUE );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
}

/* A connect that must fail promptly, for the reason given. */
static void __attribute__( ( unused ) ) prvExpectFailure( const char * pcHost,
                              BaseType_t xFlags,
                              uint16_t usPort,
                              const Pem_t * pxTrust,
                              MQTTAgentTLSError_t xWhy )
{
    TickType_t xStart = xTaskGetTickCount();
    MQTTAgentReturnCode_t xRc = prvConnect( pcHost, xFlags, usPort, pxTrust, T_TIMEOUT );
    TickType_t xTook = xTaskGetTickCount() - xStart;
    MQTTAgentTLSError_t xGot = prvTlsError();

    TEST_CHECK_MSG( xRc == eMQTTAgentFailure, "connect returned %d", ( int ) xRc );
    TEST_CHECK_MSG( xTook < PROMPT_TICKS, "failing took %lu ticks", ( unsigned long ) xTook );
    TEST_CHECK_MSG( xGot == xWhy, "TLS error %d, expected %d", ( int ) xGot, ( int ) xWhy );
    TEST_CHECK( iDisconnects == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static uint16_t prvPort( const char * pcEnv )
{
    return usTestPortFromEnv( pcEnv );
}

#define TLS_PORT    prvPort( "AFR_TEST_TLS_PORT" )

/*------------------------------------- cases ---------------------------------------*/

/* Wall-clock milliseconds (the simulator's ticks run slower than real time). */
static double prvNowMs( void )
{
    struct timespec xTs;

    clock_gettime( CLOCK_MONOTONIC, &xTs );
    return ( double ) xTs.tv_sec * 1000.0 + ( double ) xTs.tv_nsec / 1e6;
}

/* The credential header's identity, the test CA as pcCertificate, TLS 1.3
 * (TLS 1.2 with the port's mbedTLS). Prints how long the connect took. */
static void __attribute__( ( unused ) ) prvMutualTlsFromHeader( void )
{
    #if defined( TLS_TEST_PORT )
        struct mallinfo2 xBefore = mallinfo2();
    #endif
    double dStart = prvNowMs();
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    printf( "TLS connect (TCP, handshake with RSA-2048 client and server keys, CONNACK): %.1f ms on the simulator (%s)\n",
            prvNowMs() - dStart,
            #if defined( TLS_TEST_PORT )
                "port back-end, mbedTLS"
            #else
                "library back-end, rustls"
            #endif
            );
    #if defined( TLS_TEST_PORT )
        printf( "TLS heap: the port's mbedTLS session holds %ld bytes of the C heap once established\n",
                ( long ) ( mallinfo2().uordblks - xBefore.uordblks ) );
    #endif
    fflush( stdout );
    TEST_CHECK( prvTlsError() == eMQTTAgentTLSNoError );
    prvRoundTripAndDisconnect( "tls/header" );
    TEST_CHECK( iDisconnects == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

#if defined( TLS_TEST_PLACEHOLDER )

/* The header still says "Paste client certificate here.": the connect fails
 * promptly and says why; once the device sets real credentials at run time,
 * it connects. */
static void prvPlaceholderHeader( void )
{
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, eMQTTAgentTLSBadClientCredentials );
    TEST_ASSERT( MQTT_AGENT_SetClientCredentials( xClientEcCert.cText, xClientEcCert.ulSize, xClientEcKey.cText, xClientEcKey.ulSize ) == eMQTTAgentSuccess );
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTripAndDisconnect( "tls/placeholder" );
}

#elif defined( TLS_TEST_AFR_STYLE )

/* The project (tests/config_afr_style) names no clock or random hook, keeps
 * the device key in its PKCS#11 module and names its default roots: the
 * application code is AFR's. */
extern char cSimDefaultRootsPem[ 8192 ];

static void prvAfrStyleConnect( void )
{
    strcpy( cSimDefaultRootsPem, xCa.cText );
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( prvTlsError() == eMQTTAgentTLSNoError );
    prvRoundTripAndDisconnect( "tls/afr-style" );
    /* TLS 1.2 as well (the token signs ECDSA either way). */
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_TLS12" ), NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTripAndDisconnect( "tls/afr-style/12" );
    TEST_CHECK( iDisconnects == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

/* An invalid pcCertificate still fails; a server from another CA is refused. */
static void prvAfrStyleRefusals( void )
{
    static const Pem_t xAbcd = { "abcd", 4 };

    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xAbcd, eMQTTAgentTLSBadTrustedCertificate );
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_UNKNOWNCA" ), NULL, eMQTTAgentTLSUnknownIssuer );
}

#elif defined( TLS_TEST_SIGN_HOOK )

/* The device key lives only here, in the test (a secure element's part): the
 * library hands mqttconfigTLS_SIGN_FXN a SHA-256 digest and gets a signature. */
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/pk.h"

static mbedtls_pk_context xTestKey;
static mbedtls_entropy_context xTestEntropy;
static mbedtls_ctr_drbg_context xTestDrbg;
static volatile int iSignatures = 0;

BaseType_t xTestSignHook( uint16_t usScheme,
                          const uint8_t * pucDigest,
                          size_t xDigestLength,
                          uint8_t * pucSignature,
                          size_t * pxSignatureLength )
{
    size_t xLen = 0;

    /* client-ec.key: only ECDSA P-256 / SHA-256 (TLS 0x0403) can be asked for. */
    if( ( usScheme != 0x0403 ) || ( xDigestLength != 32 ) ||
        ( mbedtls_pk_sign( &xTestKey, MBEDTLS_MD_SHA256, pucDigest, xDigestLength, pucSignature, &xLen,
                           mbedtls_ctr_drbg_random, &xTestDrbg ) != 0 ) || ( xLen > *pxSignatureLength ) )
    {
        return pdFALSE;
    }

    *pxSignatureLength = xLen;
    iSignatures++;
    return pdTRUE;
}

static void prvSignHookConnect( void )
{
    char cPath[ 512 ];

    snprintf( cPath, sizeof( cPath ), "%s/client-ec.key", getenv( "AFR_TEST_TLS_DIR" ) );
    mbedtls_pk_init( &xTestKey );
    mbedtls_entropy_init( &xTestEntropy );
    mbedtls_ctr_drbg_init( &xTestDrbg );
    TEST_ASSERT( mbedtls_ctr_drbg_seed( &xTestDrbg, mbedtls_entropy_func, &xTestEntropy, NULL, 0 ) == 0 );
    TEST_ASSERT( mbedtls_pk_parse_keyfile( &xTestKey, cPath, NULL ) == 0 );

    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTripAndDisconnect( "tls/sign-hook" );
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_TLS12" ), &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK_MSG( iSignatures == 2, "the hook signed %d times", iSignatures );

    /* A hook that fails: the connect fails, and says the client's key is at fault. */
    mbedtls_pk_free( &xTestKey );
    mbedtls_pk_init( &xTestKey );
    TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentFailure );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

#elif defined( TLS_TEST_PORT )

/* mqttconfigTLS_BACKEND is the Secure Sockets port (this build of the library
 * has no TLS of its own): the simulator's port does TLS with mbedTLS. The
 * application code is the same as for the library's TLS. */
extern char cSimDefaultRootsPem[ 8192 ];

static void prvPortExpectFailure( const char * pcHost,
                                  BaseType_t xFlags,
                                  uint16_t usPort,
                                  const Pem_t * pxTrust )
{
    TEST_CHECK( prvConnect( pcHost, xFlags, usPort, pxTrust, T_TIMEOUT ) == eMQTTAgentFailure );
    MQTTAgentTLSError_t xWhy = prvTlsError();
    TEST_CHECK_MSG( xWhy == eMQTTAgentTLSPortConnectFailed, "TLS error %d", ( int ) xWhy );
    TEST_CHECK( iDisconnects == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

/* No pcCertificate: the port's default trust (the simulator's default roots,
 * here the test CA; empty: nothing trusted). */
static void prvPortDefaultTrust( void )
{
    strcpy( cSimDefaultRootsPem, xCa.cText );
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTripAndDisconnect( "tls/port/default" );
    cSimDefaultRootsPem[ 0 ] = '\0';
    prvPortExpectFailure( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, NULL );
}

static void prvPortServerRefused( void )
{
    prvPortExpectFailure( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_UNKNOWNCA" ), &xCa );
    prvPortExpectFailure( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_WRONGHOST" ), &xCa );
    prvPortExpectFailure( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_EXPIRED" ), &xCa );
    /* An invalid pcCertificate (4 bytes "abcd") fails too. */
    static const Pem_t xAbcd = { "abcd", 4 };
    prvPortExpectFailure( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xAbcd );
}

/* The options AFR v1.4.7 set, as the port saw them: SNI, ALPN, port 443. */
static void prvPortAlpn443( void )
{
    char cResult[ 256 ];

    TEST_ASSERT( prvConnect( "localhost", mqttagentUSE_AWS_IOT_ALPN_443, 8883, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xTestControl( "alpn-last", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK_MSG( strstr( cResult, "sni=localhost " ) != NULL, "recorded: %s", cResult );
    TEST_CHECK_MSG( strstr( cResult, "alpn=x-amzn-mqtt-ca " ) != NULL, "recorded: %s", cResult );
    TEST_CHECK( xUtilPublish( xClient, "tls/port/alpn", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    /* An IP address: no SNI; no flag: no ALPN. */
    TEST_ASSERT( prvConnect( "127.0.0.1", mqttagentREQUIRE_TLS | mqttagentURL_IS_IP_ADDRESS, prvPort( "AFR_TEST_ALPN_PORT" ), &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xTestControl( "alpn-last", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK_MSG( strstr( cResult, "sni=- alpn=- " ) != NULL, "recorded: %s", cResult );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
}

/* TLS asked for, plain MQTT server: fails; the server never sees a CONNECT. */
static void prvPortNeverPlain( void )
{
    char cResult[ 256 ];

    TEST_CHECK( prvConnect( "127.0.0.1", mqttagentREQUIRE_TLS | mqttagentURL_IS_IP_ADDRESS, usTestFakePort(), &xCa, pdMS_TO_TICKS( 3000 ) ) != eMQTTAgentSuccess );
    TEST_CHECK( xTestControl( "fake-last-connect", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK_MSG( strncmp( cResult, "10", 2 ) != 0, "the fake server got a plain CONNECT: %s", cResult );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

/* A 10 KB publish and back, through the port's records. */
static void prvPortLargePublish( void )
{
    static char cLarge[ 10 * 1024 ];

    memset( cLarge, 'L', sizeof( cLarge ) );
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "tls/port/large", eMQTTQoS1, cLarge, sizeof( cLarge ), T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTripAndDisconnect( "tls/port/after" );
}

#elif !defined( TLS_TEST_V10 )

/* The deprecated xSecuredConnection field asks for TLS as the flag does. */
static void prvDeprecatedSecuredConnection( void )
{
    MQTTAgentConnectParams_t xParams =
    {
        .pcURL              = "localhost",
        .usPort             = TLS_PORT,
        .pucClientId        = ( const uint8_t * ) "afr-tls-legacy",
        .usClientIdLength   = 14,
        .xSecuredConnection = pdTRUE,
        .pcCertificate      = xCa.cText,
        .ulCertificateSize  = xCa.ulSize,
    };

    TEST_ASSERT( MQTT_AGENT_Connect( xClient, &xParams, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTripAndDisconnect( "tls/legacy" );
}

/* Heap: what a TLS connection takes at its handshake's peak and once
 * established, next to a plain connection; and all of it comes back. */
static void prvHeapPerConnection( void )
{
    size_t xBefore, xPlain, xTls, xAfter, xPeak;
    uint32_t ulPlainStack;

    /* Plain first, for comparison (and to warm up one-time allocations). */
    TEST_ASSERT( xUtilConnect( xClient, usTestBrokerPort(), "afr-tls-plain", NULL, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    xBefore = xPortGetFreeHeapSize();
    TEST_ASSERT( xUtilConnect( xClient, usTestBrokerPort(), "afr-tls-plain", NULL, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    xPlain = xBefore - xPortGetFreeHeapSize();
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xPortGetFreeHeapSize() == xBefore );

    ulPlainStack = AFR_SELFTEST_AgentStackPeak();

    /* This program's first TLS connect: the minimum-ever free heap marks its peak. */
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    xTls = xBefore - xPortGetFreeHeapSize();
    xPeak = xBefore - xPortGetMinimumEverFreeHeapSize();
    prvRoundTripAndDisconnect( "tls/heap" );
    xAfter = xPortGetFreeHeapSize();
    TEST_CHECK_MSG( xAfter == xBefore, "free heap %lu before, %lu after", ( unsigned long ) xBefore, ( unsigned long ) xAfter );
    printf( "TLS heap: plain connection %lu bytes; TLS connection %lu bytes established, "
            "%lu bytes at the handshake's peak (RSA-2048 server and client, TLS 1.3)\n",
            ( unsigned long ) xPlain, ( unsigned long ) xTls, ( unsigned long ) xPeak );
    /* The handshake runs on the agent task's stack (i686; includes the
     * simulator's tick signal frames, so an upper bound). */
    printf( "TLS stack: agent task stack peak %lu bytes with plain connections only, %lu bytes once a TLS "
            "connection ran (i686, tick signal frames included)\n",
            ( unsigned long ) ulPlainStack, ( unsigned long ) AFR_SELFTEST_AgentStackPeak() );
    TEST_CHECK( ulPlainStack > 0 && AFR_SELFTEST_AgentStackPeak() >= ulPlainStack );
    fflush( stdout );
}

static void prvTls12 ( void )
{
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_TLS12" ), &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTripAndDisconnect( "tls/v12" );
}

static void prvEcServerCertificate( void )
{
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_EC" ), &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTripAndDisconnect( "tls/ec" );
}

/* An IP address: verified against the certificate's IP SAN, no SNI. */
static void prvIpAddress( void )
{
    TEST_ASSERT( prvConnect( "127.0.0.1", mqttagentREQUIRE_TLS | mqttagentURL_IS_IP_ADDRESS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTripAndDisconnect( "tls/ip" );
}

static void prvUnknownCa( void )
{
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_UNKNOWNCA" ), &xCa, eMQTTAgentTLSUnknownIssuer );
}

static void prvWrongHost( void )
{
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_WRONGHOST" ), &xCa, eMQTTAgentTLSCertificateNameMismatch );
}

static void prvExpired( void )
{
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_EXPIRED" ), &xCa, eMQTTAgentTLSCertificateExpired );
}

/* No pcCertificate: the built-in roots (Amazon's, as in AFR v1.4.7), which do
 * not know the test CA. */
static void prvBuiltInRoots( void )
{
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, NULL, eMQTTAgentTLSUnknownIssuer );
}

/* No pcCertificate, and the project names its own default roots
 * (mqttconfigTLS_DEFAULT_ROOTS_PEM, here the simulator's cSimDefaultRootsPem):
 * a private broker's CA works as AFR's default trust did. pcCertificate still wins. */
extern char cSimDefaultRootsPem[ 8192 ];

static void prvProjectDefaultRoots( void )
{
    static const char cAbcd[] = "abcd";

    TEST_ASSERT( strlen( xCa.cText ) < sizeof( cSimDefaultRootsPem ) );
    strcpy( cSimDefaultRootsPem, xCa.cText );
    TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    /* An invalid pcCertificate (4 bytes "abcd") still fails: never the default instead. */
    Pem_t xBad;
    memcpy( xBad.cText, cAbcd, sizeof( cAbcd ) );
    xBad.ulSize = 4;
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xBad, eMQTTAgentTLSBadTrustedCertificate );
    cSimDefaultRootsPem[ 0 ] = '\0';
}

/* The broker requires a client certificate: without one it refuses. */
static void prvNoClientCertificate( void )
{
    TickType_t xStart = xTaskGetTickCount();
    MQTTAgentTLSError_t xWhy;

    TEST_ASSERT( MQTT_AGENT_SetClientCredentials( NULL, 0, NULL, 0 ) == eMQTTAgentSuccess );
    TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentFailure );
    TEST_CHECK( xTaskGetTickCount() - xStart < PROMPT_TICKS );
    xWhy = prvTlsError();
    /* TLS 1.3: the server's alert arrives after our Finished; it may also just close. */
    TEST_CHECK_MSG( xWhy == eMQTTAgentTLSAlertReceived || xWhy == eMQTTAgentTLSConnectionLost, "TLS error %d", ( int ) xWhy );
    TEST_CHECK( iDisconnects == 0 );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

static void prvClientCertificateFromOtherCa( void )
{
    TickType_t xStart = xTaskGetTickCount();
    MQTTAgentTLSError_t xWhy;

    TEST_ASSERT( MQTT_AGENT_SetClientCredentials( xOtherCert.cText, xOtherCert.ulSize, xOtherKey.cText, xOtherKey.ulSize ) == eMQTTAgentSuccess );
    TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentFailure );
    TEST_CHECK( xTaskGetTickCount() - xStart < PROMPT_TICKS );
    xWhy = prvTlsError();
    TEST_CHECK_MSG( xWhy == eMQTTAgentTLSAlertReceived || xWhy == eMQTTAgentTLSConnectionLost, "TLS error %d", ( int ) xWhy );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

/* Credentials set at run time (P-256 key, SEC1 PEM) replace the header's. */
static void prvRuntimeCredentials( void )
{
    TEST_ASSERT( MQTT_AGENT_SetClientCredentials( xClientEcCert.cText, xClientEcCert.ulSize, xClientEcKey.cText, xClientEcKey.ulSize ) == eMQTTAgentSuccess );
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    prvRoundTripAndDisconnect( "tls/runtime" );
}

static void prvBadPem( void )
{
    static char cGarbage[] = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    Pem_t * pxBad = pvPortMalloc( sizeof( Pem_t ) );

    TEST_ASSERT( pxBad != NULL );
    /* The setter refuses what is not PEM, and changes nothing. */
    TEST_CHECK( MQTT_AGENT_SetClientCredentials( "Paste client certificate here.", 31, xClientEcKey.cText, xClientEcKey.ulSize ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_SetClientCredentials( xClientEcCert.cText, xClientEcCert.ulSize, "nope", 5 ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_SetClientCredentials( xClientEcCert.cText, xClientEcCert.ulSize, NULL, 0 ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_SetClientCredentials( NULL, 10, NULL, 0 ) == eMQTTAgentFailure );
    /* A garbage pcCertificate fails the connect before any byte is sent. */
    strcpy( pxBad->cText, cGarbage );
    pxBad->ulSize = sizeof( cGarbage );
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, pxBad, eMQTTAgentTLSBadTrustedCertificate );
    strcpy( pxBad->cText, "no PEM here" );
    pxBad->ulSize = 12;
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, pxBad, eMQTTAgentTLSBadTrustedCertificate );
    /* A certificate pointer with size 0 is no certificate: never the built-in roots instead. */
    pxBad->ulSize = 0;
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, pxBad, eMQTTAgentTLSBadTrustedCertificate );
    /* Sizes beyond any PEM (64 KB) are refused before anything is read. */
    pxBad->ulSize = 0x80000000UL;
    TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, pxBad, T_TIMEOUT ) == eMQTTAgentFailure );
    TEST_CHECK( MQTT_AGENT_SetClientCredentials( xClientEcCert.cText, 0x80000000UL, xClientEcKey.cText, xClientEcKey.ulSize ) == eMQTTAgentFailure );
    /* A name with the IP flag: refused before TLS. */
    prvExpectFailure( "localhost", mqttagentREQUIRE_TLS | mqttagentURL_IS_IP_ADDRESS, TLS_PORT, &xCa, eMQTTAgentTLSNoError );
    vPortFree( pxBad );
    /* The runtime identity still works. */
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
}

/* mqttagentUSE_AWS_IOT_ALPN_443: port 443 (the simulator's sockets redirect
 * 443 to the recorder), ALPN x-amzn-mqtt-ca, SNI. */
static void prvAlpn443( void )
{
    char cResult[ 256 ];

    TEST_ASSERT( prvConnect( "localhost", mqttagentUSE_AWS_IOT_ALPN_443, 8883, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xTestControl( "alpn-last", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK_MSG( strstr( cResult, "sni=localhost " ) != NULL, "recorded: %s", cResult );
    TEST_CHECK_MSG( strstr( cResult, "alpn=x-amzn-mqtt-ca " ) != NULL, "recorded: %s", cResult );
    TEST_CHECK( xUtilPublish( xClient, "tls/alpn", eMQTTQoS1, "x", 1, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );

    /* Without the flag: no ALPN offered; with an IP address: no SNI. */
    TEST_ASSERT( prvConnect( "127.0.0.1", mqttagentREQUIRE_TLS | mqttagentURL_IS_IP_ADDRESS, prvPort( "AFR_TEST_ALPN_PORT" ), &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xTestControl( "alpn-last", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK_MSG( strstr( cResult, "sni=- alpn=- " ) != NULL, "recorded: %s", cResult );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
}

/* TLS asked for, plain MQTT server: fails; the server never sees a CONNECT. */
static void prvNeverPlain( void )
{
    char cResult[ 256 ];

    TEST_CHECK( prvConnect( "127.0.0.1", mqttagentREQUIRE_TLS | mqttagentURL_IS_IP_ADDRESS, usTestBrokerPort(), &xCa, T_TIMEOUT ) == eMQTTAgentFailure );
    TEST_CHECK( prvConnect( "127.0.0.1", mqttagentREQUIRE_TLS | mqttagentURL_IS_IP_ADDRESS, usTestFakePort(), &xCa, pdMS_TO_TICKS( 1000 ) ) != eMQTTAgentSuccess );
    TEST_CHECK( xTestControl( "fake-last-connect", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK_MSG( strncmp( cResult, "10", 2 ) != 0, "the fake server got a plain CONNECT: %s", cResult );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

/* A server that never answers the ClientHello (the relay, frozen): the
 * connect times out, and the agent gives the handshake up by its deadline. */
static void prvHandshakeTimeout( void )
{
    char cResult[ 64 ];
    MQTTAgentTLSError_t xWhy;

    TEST_CHECK( xTestControl( "relay-freeze", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( prvConnect( "127.0.0.1", mqttagentREQUIRE_TLS | mqttagentURL_IS_IP_ADDRESS, usTestRelayPort(), &xCa, pdMS_TO_TICKS( 500 ) ) == eMQTTAgentTimeout );
    vTaskDelay( pdMS_TO_TICKS( 200 ) );
    xWhy = prvTlsError();
    TEST_CHECK_MSG( xWhy == eMQTTAgentTLSTimeout, "TLS error %d", ( int ) xWhy );
    TEST_CHECK( xTestControl( "relay-thaw", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

/* A 10 KB publish (three TLS records with the default 4 KB send buffer), a
 * 2 KB one both ways (it fits a pool buffer of this config), and a connection
 * lost under TLS reports the disconnect once. */
static void prvLargeAndLost( void )
{
    static char cBig[ 10000 ];
    char cResult[ 64 ];

    memset( cBig, 'z', sizeof( cBig ) );
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    iReceived = 0;
    TEST_CHECK( xUtilSubscribe( xClient, "tls/big", eMQTTQoS1, prvOnPublish, NULL ) == eMQTTAgentSuccess );
    /* Acknowledged: the broker decrypted every record. (Too big for this config's
     * pool buffers on the way back: dropped there, by design.) */
    TEST_CHECK( xUtilPublish( xClient, "tls/big", eMQTTQoS1, cBig, sizeof( cBig ), T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilPublish( xClient, "tls/big", eMQTTQoS1, cBig, 2000, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( xUtilWaitFor( &iReceived, 1, T_TIMEOUT ) == pdTRUE );
    TEST_CHECK( xTestControl( "broker-kill", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_CHECK( xUtilWaitFor( &iDisconnects, 1, T_TIMEOUT ) == pdTRUE );
    vTaskDelay( pdMS_TO_TICKS( 100 ) );
    TEST_CHECK( iDisconnects == 1 );
    iDisconnects = 0;
    TEST_CHECK( xTestControl( "broker-start", cResult, sizeof( cResult ), TEST_CONTROL_TIMEOUT ) == pdPASS );
    TEST_ASSERT( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( iUtilPoolFree() == NUM_BUFFERS );
}

/* Failed and successful TLS connects leave the heap as it was. */
static void prvNoLeak( void )
{
    size_t xBefore;
    int i;

    /* Runtime credentials are kept until replaced: set the ones in force at the end first. */
    TEST_ASSERT( MQTT_AGENT_SetClientCredentials( xClientEcCert.cText, xClientEcCert.ulSize, xClientEcKey.cText, xClientEcKey.ulSize ) == eMQTTAgentSuccess );
    xBefore = xPortGetFreeHeapSize();

    for( i = 0; i < 3; i++ )
    {
        /* Every kind of failure: our verification, the server's refusal. */
        TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_EXPIRED" ), &xCa, T_TIMEOUT ) == eMQTTAgentFailure );
        TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_UNKNOWNCA" ), &xCa, T_TIMEOUT ) == eMQTTAgentFailure );
        TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_WRONGHOST" ), &xCa, T_TIMEOUT ) == eMQTTAgentFailure );
        TEST_CHECK( MQTT_AGENT_SetClientCredentials( xOtherCert.cText, xOtherCert.ulSize, xOtherKey.cText, xOtherKey.ulSize ) == eMQTTAgentSuccess );
        TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentFailure );
        TEST_CHECK( MQTT_AGENT_SetClientCredentials( xClientEcCert.cText, xClientEcCert.ulSize, xClientEcKey.cText, xClientEcKey.ulSize ) == eMQTTAgentSuccess );
        TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    }

    TEST_CHECK_MSG( xPortGetFreeHeapSize() == xBefore, "free heap %lu before, %lu after",
                    ( unsigned long ) xBefore, ( unsigned long ) xPortGetFreeHeapSize() );
}

/* A device whose clock does not know the time yet (no RTC, no SNTP): as AFR,
 * it connects; certificate dates are checked against the library's build
 * time, so a certificate that expired before the build is still refused. */
extern volatile BaseType_t xSimTlsClockKnown;

static void prvNoClock( void )
{
    xSimTlsClockKnown = pdFALSE;
    TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
    /* server-expired.pem: valid 2020 to 2021, long before this build. */
    TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, prvPort( "AFR_TEST_TLS_PORT_EXPIRED" ), &xCa, T_TIMEOUT ) == eMQTTAgentFailure );
    TEST_CHECK( prvTlsError() == eMQTTAgentTLSCertificateExpired );
    xSimTlsClockKnown = pdTRUE;
}

/* A heap too small for a handshake: the connect is refused before it starts
 * (eMQTTAgentTLSOutOfMemory) and the device keeps running; once the heap has
 * room, TLS connects. The heap is filled from this task, as a small
 * configTOTAL_HEAP_SIZE would leave it. */
static void prvHeapTooSmall( void )
{
    enum { CHUNK = 4 * 1024, MAX_CHUNKS = 4096 };
    static void * pvHogs[ MAX_CHUNKS ];
    size_t xHogs = 0;
    /* Leave about 34 KB: room for the record buffers (20.7 KB), which were
     * always allocated fallibly, but not for the rest of a handshake (53.5 KB
     * in all with the default buffers, 48 KB measured): without the check,
     * an allocation inside rustls fails and stops the device. */
    while( xHogs < MAX_CHUNKS && xPortGetFreeHeapSize() > 32 * 1024 + CHUNK )
    {
        pvHogs[ xHogs ] = pvPortMalloc( CHUNK );
        TEST_ASSERT( pvHogs[ xHogs ] != NULL );
        xHogs++;
    }

    vTestNote( "%lu bytes of heap free", ( unsigned long ) xPortGetFreeHeapSize() );
    TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentFailure );
    MQTTAgentTLSError_t xError = prvTlsError();
    TEST_CHECK_MSG( xError == eMQTTAgentTLSOutOfMemory, "TLS error %d", ( int ) xError );
    /* The device runs on: a plain connection works in what is left. */
    TEST_CHECK( xUtilConnect( xClient, usTestBrokerPort(), "afr-tls-lowheap", NULL, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );

    while( xHogs > 0 )
    {
        vPortFree( pvHogs[ --xHogs ] );
    }

    TEST_CHECK( prvConnect( "localhost", mqttagentREQUIRE_TLS, TLS_PORT, &xCa, T_TIMEOUT ) == eMQTTAgentSuccess );
    TEST_CHECK( MQTT_AGENT_Disconnect( xClient, T_TIMEOUT ) == eMQTTAgentSuccess );
}

#endif /* TLS_TEST_PLACEHOLDER, TLS_TEST_V10 */

static void prvBody( void )
{
    prvLoad( &xCa, "ca.pem" );
    prvLoad( &xClientEcCert, "client-ec.pem" );
    prvLoad( &xClientEcKey, "client-ec.key" );
    prvLoad( &xOtherCert, "client-otherca.pem" );
    prvLoad( &xOtherKey, "client-otherca.key" );
    TEST_ASSERT( MQTT_AGENT_Create( &xClient ) == eMQTTAgentSuccess );

#if defined( TLS_TEST_V10 )
    vTestRun( "mutual_tls_v10_credential_header", prvMutualTlsFromHeader );
#elif defined( TLS_TEST_SIGN_HOOK )
    vTestRun( "sign_hook_key_held_by_the_application", prvSignHookConnect );
#elif defined( TLS_TEST_AFR_STYLE )
    vTestRun( "afr_style_pkcs11_key_no_hooks_default_roots", prvAfrStyleConnect );
    vTestRun( "afr_style_refusals", prvAfrStyleRefusals );
#elif defined( TLS_TEST_PORT )
    vTestRun( "port_mutual_tls_credential_header", prvMutualTlsFromHeader );
    vTestRun( "port_default_trust", prvPortDefaultTrust );
    vTestRun( "port_server_refused", prvPortServerRefused );
    vTestRun( "port_alpn_443_and_sni", prvPortAlpn443 );
    vTestRun( "port_never_plain", prvPortNeverPlain );
    vTestRun( "port_large_publish", prvPortLargePublish );
#elif defined( TLS_TEST_PLACEHOLDER )
    vTestRun( "placeholder_credential_header", prvPlaceholderHeader );
#else
    vTestRun( "heap_per_connection", prvHeapPerConnection );
    vTestRun( "mutual_tls_v14_credential_header", prvMutualTlsFromHeader );
    vTestRun( "deprecated_xSecuredConnection", prvDeprecatedSecuredConnection );
    vTestRun( "tls12_only_server", prvTls12 );
    vTestRun( "ecdsa_server_certificate", prvEcServerCertificate );
    vTestRun( "ip_address_without_sni", prvIpAddress );
    vTestRun( "server_cert_unknown_ca", prvUnknownCa );
    vTestRun( "server_cert_wrong_host", prvWrongHost );
    vTestRun( "server_cert_expired", prvExpired );
    vTestRun( "built_in_roots", prvBuiltInRoots );
    vTestRun( "project_default_roots", prvProjectDefaultRoots );
    vTestRun( "alpn_443", prvAlpn443 );
    vTestRun( "never_plain", prvNeverPlain );
    vTestRun( "handshake_timeout", prvHandshakeTimeout );
    vTestRun( "large_publish_and_lost_connection", prvLargeAndLost );
    vTestRun( "no_leak", prvNoLeak );
    vTestRun( "no_client_certificate", prvNoClientCertificate );
    vTestRun( "client_cert_other_ca", prvClientCertificateFromOtherCa );
    vTestRun( "runtime_credentials", prvRuntimeCredentials );
    vTestRun( "bad_pem", prvBadPem );
    vTestRun( "heap_too_small_for_a_handshake", prvHeapTooSmall );
    vTestRun( "no_clock_build_time_bound", prvNoClock );
#endif
    TEST_CHECK( MQTT_AGENT_Delete( xClient ) == eMQTTAgentSuccess );
}

int main( void )
{
    vUtilAgentTestMain( prvBody, pdMS_TO_TICKS( 180000 ) );
}
