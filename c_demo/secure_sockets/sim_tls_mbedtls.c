/*
 * TLS inside the simulator's Secure Sockets port (variant
 * sim_secure_sockets_tls), with mbedTLS as AFR v1.4.7's own ports did: the
 * library above sets SOCKETS_SO_REQUIRE_TLS, SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE,
 * SOCKETS_SO_SERVER_NAME_INDICATION and SOCKETS_SO_ALPN_PROTOCOLS, and this
 * code runs the handshake in SOCKETS_Connect and the records in
 * SOCKETS_Send/Recv.
 *
 * Trust: the SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE PEM, else the simulator's
 * default roots (cSimDefaultRootsPem of c_demo/common/sim_support.c; empty:
 * none, so every server is refused). Client certificate and key: the project's
 * aws_clientcredential_keys.h (either AFR naming), when it has them.
 *
 * The socket underneath is non-blocking: mbedTLS's WANT_READ/WANT_WRITE become
 * EAGAIN for the port's loops, which wait with vTaskDelay as the simulator
 * requires. Certificate dates are checked against the host's clock (mbedTLS's
 * MBEDTLS_HAVE_TIME_DATE).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/net_sockets.h"
#include "mbedtls/pk.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

#include "FreeRTOS.h"
#include "task.h"

#include "aws_secure_sockets.h"
#include "sim_tls.h"

#if defined( __has_include )
    #if __has_include( "aws_clientcredential_keys.h" )
        #include "aws_clientcredential_keys.h"
        #define simtlsHAVE_CREDENTIAL_HEADER    1
    #endif
#endif

#define simtlsMAX_PEM      ( 64U * 1024U )
#define simtlsMAX_ALPN     ( 4 )

extern char cSimDefaultRootsPem[];

struct SimTls
{
    BaseType_t xRequired;
    char * pcTrusted;   /* Copy of the trusted PEM, NUL-terminated. */
    char * pcHostName;  /* Copy of the SNI name. */
    char * pcAlpn[ simtlsMAX_ALPN + 1 ];
    BaseType_t xStarted; /* The mbedTLS contexts below are initialised. */
    int iFd;
    mbedtls_ssl_context xSsl;
    mbedtls_ssl_config xConf;
    mbedtls_x509_crt xCa;
    mbedtls_x509_crt xCert;
    mbedtls_pk_context xKey;
    mbedtls_entropy_context xEntropy;
    mbedtls_ctr_drbg_context xDrbg;
};

static char * prvCopy( const void * pv,
                       size_t xLen )
{
    char * pc = malloc( xLen + 1U );

    if( pc != NULL )
    {
        memcpy( pc, pv, xLen );
        pc[ xLen ] = '\0';
    }

    return pc;
}

SimTls_t * pxSimTlsCreate( void )
{
    SimTls_t * pxTls = calloc( 1, sizeof( SimTls_t ) );

    if( pxTls != NULL )
    {
        pxTls->iFd = -1;
    }

    return pxTls;
}

int32_t lSimTlsSetOption( SimTls_t * pxTls,
                          int32_t lOption,
                          const void * pvValue,
                          size_t xLength )
{
    switch( lOption )
    {
        case SOCKETS_SO_REQUIRE_TLS:
            pxTls->xRequired = pdTRUE;
            return SOCKETS_ERROR_NONE;

        case SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE:
            /* PEM; AFR passes the length with the terminating NUL. */
            if( ( pvValue == NULL ) || ( xLength == 0U ) || ( xLength > simtlsMAX_PEM ) )
            {
                return SOCKETS_EINVAL;
            }

            free( pxTls->pcTrusted );
            pxTls->pcTrusted = prvCopy( pvValue, xLength );
            return ( pxTls->pcTrusted != NULL ) ? SOCKETS_ERROR_NONE : SOCKETS_ENOMEM;

        case SOCKETS_SO_SERVER_NAME_INDICATION:
            if( ( pvValue == NULL ) || ( xLength == 0U ) || ( xLength > 256U ) )
            {
                return SOCKETS_EINVAL;
            }

            free( pxTls->pcHostName );
            pxTls->pcHostName = prvCopy( pvValue, strnlen( pvValue, xLength ) );
            return ( pxTls->pcHostName != NULL ) ? SOCKETS_ERROR_NONE : SOCKETS_ENOMEM;

        case SOCKETS_SO_ALPN_PROTOCOLS:
           {
               /* An array of xLength NUL-terminated names. */
               char * const * ppcNames = ( char * const * ) pvValue;

               if( ( ppcNames == NULL ) || ( xLength == 0U ) || ( xLength > simtlsMAX_ALPN ) )
               {
                   return SOCKETS_EINVAL;
               }

               for( size_t i = 0; i < xLength; i++ )
               {
                   if( ( ppcNames[ i ] == NULL ) || ( strlen( ppcNames[ i ] ) > 255U ) )
                   {
                       return SOCKETS_EINVAL;
                   }

                   free( pxTls->pcAlpn[ i ] );
                   pxTls->pcAlpn[ i ] = prvCopy( ppcNames[ i ], strlen( ppcNames[ i ] ) );

                   if( pxTls->pcAlpn[ i ] == NULL )
                   {
                       return SOCKETS_ENOMEM;
                   }
               }

               return SOCKETS_ERROR_NONE;
           }

        default:
            return SOCKETS_ENOPROTOOPT;
    }
}

BaseType_t xSimTlsRequired( const SimTls_t * pxTls )
{
    return ( pxTls != NULL ) ? pxTls->xRequired : pdFALSE;
}

/* mbedTLS's transport over the non-blocking descriptor. */
static int prvBioSend( void * pvCtx,
                       const unsigned char * pucBuf,
                       size_t xLen )
{
    SimTls_t * pxTls = pvCtx;
    ssize_t x = send( pxTls->iFd, pucBuf, xLen, MSG_NOSIGNAL | MSG_DONTWAIT );

    if( x >= 0 )
    {
        return ( int ) x;
    }

    return ( ( errno == EAGAIN ) || ( errno == EWOULDBLOCK ) || ( errno == EINTR ) ) ?
           MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int prvBioRecv( void * pvCtx,
                       unsigned char * pucBuf,
                       size_t xLen )
{
    SimTls_t * pxTls = pvCtx;
    ssize_t x = recv( pxTls->iFd, pucBuf, xLen, MSG_DONTWAIT );

    if( x >= 0 )
    {
        return ( int ) x; /* 0: the peer closed. */
    }

    return ( ( errno == EAGAIN ) || ( errno == EWOULDBLOCK ) || ( errno == EINTR ) ) ?
           MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
}

static void prvLogError( const char * pcWhat,
                         int iRet )
{
    char cText[ 128 ];

    mbedtls_strerror( iRet, cText, sizeof( cText ) );
    printf( "sim TLS: %s: -0x%04x %s\n", pcWhat, ( unsigned ) -iRet, cText );
}

/* Sets up the session: RNG, trust, client identity, SNI, ALPN. */
static int prvSetUp( SimTls_t * pxTls )
{
    const char * pcTrust = ( pxTls->pcTrusted != NULL ) ? pxTls->pcTrusted : cSimDefaultRootsPem;
    const char * pcCert = NULL;
    const char * pcKey = NULL;
    int iRet;

    #if defined( simtlsHAVE_CREDENTIAL_HEADER )
        #if defined( keyCLIENT_CERTIFICATE_PEM ) && defined( keyCLIENT_PRIVATE_KEY_PEM )
            pcCert = keyCLIENT_CERTIFICATE_PEM;
            pcKey = keyCLIENT_PRIVATE_KEY_PEM;
        #else
            pcCert = clientcredentialCLIENT_CERTIFICATE_PEM;
            pcKey = clientcredentialCLIENT_PRIVATE_KEY_PEM;
        #endif
    #endif

    mbedtls_ssl_init( &pxTls->xSsl );
    mbedtls_ssl_config_init( &pxTls->xConf );
    mbedtls_x509_crt_init( &pxTls->xCa );
    mbedtls_x509_crt_init( &pxTls->xCert );
    mbedtls_pk_init( &pxTls->xKey );
    mbedtls_entropy_init( &pxTls->xEntropy );
    mbedtls_ctr_drbg_init( &pxTls->xDrbg );
    pxTls->xStarted = pdTRUE;

    iRet = mbedtls_ctr_drbg_seed( &pxTls->xDrbg, mbedtls_entropy_func, &pxTls->xEntropy, NULL, 0 );

    if( iRet == 0 )
    {
        iRet = mbedtls_ssl_config_defaults( &pxTls->xConf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                            MBEDTLS_SSL_PRESET_DEFAULT );
    }

    if( iRet == 0 )
    {
        /* x509 PEM parsing wants the length with the NUL. */
        iRet = ( pcTrust[ 0 ] != '\0' ) ?
               mbedtls_x509_crt_parse( &pxTls->xCa, ( const unsigned char * ) pcTrust, strlen( pcTrust ) + 1U ) :
               MBEDTLS_ERR_X509_CERT_VERIFY_FAILED; /* Nothing to trust. */

        if( iRet != 0 )
        {
            prvLogError( "trusted certificates", iRet );
        }
    }

    if( iRet == 0 )
    {
        mbedtls_ssl_conf_ca_chain( &pxTls->xConf, &pxTls->xCa, NULL );
        mbedtls_ssl_conf_authmode( &pxTls->xConf, MBEDTLS_SSL_VERIFY_REQUIRED );
        mbedtls_ssl_conf_rng( &pxTls->xConf, mbedtls_ctr_drbg_random, &pxTls->xDrbg );

        if( ( pcCert != NULL ) && ( pcKey != NULL ) &&
            ( mbedtls_x509_crt_parse( &pxTls->xCert, ( const unsigned char * ) pcCert, strlen( pcCert ) + 1U ) == 0 ) &&
            ( mbedtls_pk_parse_key( &pxTls->xKey, ( const unsigned char * ) pcKey, strlen( pcKey ) + 1U, NULL, 0 ) == 0 ) )
        {
            iRet = mbedtls_ssl_conf_own_cert( &pxTls->xConf, &pxTls->xCert, &pxTls->xKey );
        }
    }

    if( ( iRet == 0 ) && ( pxTls->pcAlpn[ 0 ] != NULL ) )
    {
        iRet = mbedtls_ssl_conf_alpn_protocols( &pxTls->xConf, ( const char ** ) pxTls->pcAlpn );
    }

    if( iRet == 0 )
    {
        iRet = mbedtls_ssl_setup( &pxTls->xSsl, &pxTls->xConf );
    }

    if( ( iRet == 0 ) && ( pxTls->pcHostName != NULL ) )
    {
        /* SNI, and the name the server's certificate must carry. */
        iRet = mbedtls_ssl_set_hostname( &pxTls->xSsl, pxTls->pcHostName );
    }

    if( iRet == 0 )
    {
        mbedtls_ssl_set_bio( &pxTls->xSsl, pxTls, prvBioSend, prvBioRecv, NULL );
    }

    return iRet;
}

int32_t lSimTlsHandshake( SimTls_t * pxTls,
                          int iFd,
                          TickType_t xTimeout )
{
    TickType_t xStart = xTaskGetTickCount();
    int iRet;

    pxTls->iFd = iFd;
    iRet = prvSetUp( pxTls );

    if( iRet != 0 )
    {
        prvLogError( "set-up", iRet );
        return SOCKETS_TLS_INIT_ERROR;
    }

    for( ; ; )
    {
        iRet = mbedtls_ssl_handshake( &pxTls->xSsl );

        if( iRet == 0 )
        {
            return SOCKETS_ERROR_NONE;
        }

        if( ( iRet != MBEDTLS_ERR_SSL_WANT_READ ) && ( iRet != MBEDTLS_ERR_SSL_WANT_WRITE ) )
        {
            prvLogError( "handshake", iRet );
            return ( iRet == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ) ? SOCKETS_TLS_SERVER_UNVERIFIED : SOCKETS_TLS_HANDSHAKE_ERROR;
        }

        if( ( xTimeout != portMAX_DELAY ) && ( ( TickType_t ) ( xTaskGetTickCount() - xStart ) >= xTimeout ) )
        {
            printf( "sim TLS: handshake timed out\n" );
            return SOCKETS_TLS_HANDSHAKE_ERROR;
        }

        vTaskDelay( 1 );
    }
}

ssize_t xSimTlsRecv( SimTls_t * pxTls,
                     void * pvBuffer,
                     size_t xLength )
{
    int iRet = mbedtls_ssl_read( &pxTls->xSsl, pvBuffer, xLength );

    if( iRet > 0 )
    {
        return iRet;
    }

    if( ( iRet == 0 ) || ( iRet == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ) )
    {
        return 0; /* End of the session. */
    }

    errno = ( ( iRet == MBEDTLS_ERR_SSL_WANT_READ ) || ( iRet == MBEDTLS_ERR_SSL_WANT_WRITE ) ) ? EAGAIN : ECONNRESET;
    return -1;
}

ssize_t xSimTlsSend( SimTls_t * pxTls,
                     const void * pvBuffer,
                     size_t xLength )
{
    int iRet = mbedtls_ssl_write( &pxTls->xSsl, pvBuffer, xLength );

    if( iRet >= 0 )
    {
        return iRet;
    }

    errno = ( ( iRet == MBEDTLS_ERR_SSL_WANT_READ ) || ( iRet == MBEDTLS_ERR_SSL_WANT_WRITE ) ) ? EAGAIN : ECONNRESET;
    return -1;
}

void vSimTlsCloseNotify( SimTls_t * pxTls )
{
    if( ( pxTls != NULL ) && ( pxTls->xStarted == pdTRUE ) && ( pxTls->iFd >= 0 ) )
    {
        ( void ) mbedtls_ssl_close_notify( &pxTls->xSsl );
    }
}

void vSimTlsDelete( SimTls_t * pxTls )
{
    if( pxTls == NULL )
    {
        return;
    }

    if( pxTls->xStarted == pdTRUE )
    {
        mbedtls_ssl_free( &pxTls->xSsl );
        mbedtls_ssl_config_free( &pxTls->xConf );
        mbedtls_x509_crt_free( &pxTls->xCa );
        mbedtls_x509_crt_free( &pxTls->xCert );
        mbedtls_pk_free( &pxTls->xKey );
        mbedtls_ctr_drbg_free( &pxTls->xDrbg );
        mbedtls_entropy_free( &pxTls->xEntropy );
    }

    free( pxTls->pcTrusted );
    free( pxTls->pcHostName );

    for( size_t i = 0; i < simtlsMAX_ALPN; i++ )
    {
        free( pxTls->pcAlpn[ i ] );
    }

    free( pxTls );
}
