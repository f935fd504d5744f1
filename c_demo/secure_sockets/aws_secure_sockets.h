/*
 * aws_secure_sockets.h - the Amazon FreeRTOS v1.4.7 Secure Sockets API as the
 * FreeRTOS POSIX simulator port of this project provides it.
 *
 * Names, types, signatures and numeric values are those of AFR v1.4.7, so code
 * written against AFR (and the Rust library, which declares the same symbols)
 * builds and links unchanged. Port-specific behaviour is described in
 * c_demo/secure_sockets/README.md.
 *
 * TLS: in this product TLS is done by the library above a plain TCP socket.
 * This port never does TLS; the TLS options of SOCKETS_SetSockOpt() are
 * refused with SOCKETS_ENOPROTOOPT.
 */
#ifndef _AWS_SECURE_SOCKETS_H_
#define _AWS_SECURE_SOCKETS_H_

#include <stddef.h>
#include <stdint.h>

#include "aws_lib_init.h" /* lib_initDECLARE_LIB_INIT; also brings in FreeRTOS.h. */

/* A project may keep its own aws_secure_sockets_config.h, as AFR projects do. */
#if defined( __has_include )
    #if __has_include( "aws_secure_sockets_config.h" )
        #include "aws_secure_sockets_config.h"
    #endif
#endif

/* Byte order of the target, for the SOCKETS_hton / ntoh macros below. When the
 * project does not say, the compiler does. */
#ifndef socketsconfigBYTE_ORDER
    #if defined( __BYTE_ORDER__ ) && ( __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ )
        #define socketsconfigBYTE_ORDER    pdBIG_ENDIAN
    #else
        #define socketsconfigBYTE_ORDER    pdLITTLE_ENDIAN
    #endif
#endif

/* Initial send and receive timeouts of a new socket, in ticks (AFR's defaults). */
#ifndef socketsconfigDEFAULT_SEND_TIMEOUT
    #define socketsconfigDEFAULT_SEND_TIMEOUT    ( 10000 )
#endif
#ifndef socketsconfigDEFAULT_RECV_TIMEOUT
    #define socketsconfigDEFAULT_RECV_TIMEOUT    ( 10000 )
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Types ---------------------------------------------------------------- */

/* Opaque handle of a socket. */
typedef void * Socket_t;

/* Length of a socket address. */
#define Socklen_t    uint32_t

/* An IPv4 address and port, both in network byte order. */
typedef struct SocketsSockaddr
{
    uint8_t ucLength;       /* Size of this structure. */
    uint8_t ucSocketDomain; /* SOCKETS_AF_INET (the only domain supported). */
    uint16_t usPort;        /* Port, network byte order (use SOCKETS_htons). */
    uint32_t ulAddress;     /* IPv4 address, network byte order. */
} SocketsSockaddr_t;

/* ---- Return codes (all failures are negative) ------------------------------ */

#define SOCKETS_ERROR_NONE                 ( 0 )     /* Success. */
#define SOCKETS_SOCKET_ERROR               ( -1 )    /* Any error without a code of its own. */
#define SOCKETS_EWOULDBLOCK                ( -11 )   /* Resource temporarily unavailable. */
#define SOCKETS_ENOMEM                     ( -12 )   /* Out of memory. */
#define SOCKETS_EINVAL                     ( -22 )   /* Bad argument. */
#define SOCKETS_ENOPROTOOPT                ( -109 )  /* Option not supported. */
#define SOCKETS_ENOTCONN                   ( -126 )  /* Socket not connected. */
#define SOCKETS_EISCONN                    ( -127 )  /* Socket already connected. */
#define SOCKETS_ECLOSED                    ( -128 )  /* Connection closed (or reset) by the peer. */
#define SOCKETS_TLS_INIT_ERROR             ( -1001 ) /* TLS set-up failed. */
#define SOCKETS_TLS_HANDSHAKE_ERROR        ( -1002 ) /* TLS handshake failed. */
#define SOCKETS_TLS_SERVER_UNVERIFIED      ( -1003 ) /* Server certificate not verified. */
#define SOCKETS_TLS_RECV_ERROR             ( -1004 ) /* TLS read failed. */
#define SOCKETS_TLS_SEND_ERROR             ( -1005 ) /* TLS write failed. */
#define SOCKETS_PERIPHERAL_RESET           ( -1006 ) /* The network peripheral was reset. */

/* The handle SOCKETS_Socket() returns when it fails. */
#define SOCKETS_INVALID_SOCKET    ( ( Socket_t ) ~0U )

/* ---- Domains, types, protocols -------------------------------------------- */

#define SOCKETS_AF_INET          ( 2 )               /* IPv4. */
#define SOCKETS_PF_INET          SOCKETS_AF_INET
#define SOCKETS_AF_INET6         ( 10 )              /* IPv6: not supported. */

#define SOCKETS_SOCK_DGRAM       ( 2 )               /* Not supported. */
#define SOCKETS_SOCK_STREAM      ( 1 )

#define SOCKETS_IPPROTO_UDP      ( 17 )              /* Not supported. */
#define SOCKETS_IPPROTO_TCP      ( 6 )

/* ---- SOCKETS_SetSockOpt() options ----------------------------------------- */

#define SOCKETS_SO_RCVTIMEO                      ( 0 )  /* Receive timeout: TickType_t *, 0 = forever. */
#define SOCKETS_SO_SNDTIMEO                      ( 1 )  /* Send (and connect) timeout: TickType_t *, 0 = forever. */
#define SOCKETS_SO_SNDBUF                        ( 4 )  /* Not supported by this port. */
#define SOCKETS_SO_RCVBUF                        ( 5 )  /* Not supported by this port. */
#define SOCKETS_SO_SERVER_NAME_INDICATION        ( 6 )  /* TLS: refused by this port. */
#define SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE    ( 7 )  /* TLS: refused by this port. */
#define SOCKETS_SO_REQUIRE_TLS                   ( 8 )  /* TLS: refused by this port. */
#define SOCKETS_SO_NONBLOCK                      ( 9 )  /* Recv and Send return at once from now on. */
#define SOCKETS_SO_ALPN_PROTOCOLS                ( 10 ) /* TLS: refused by this port. */
#define SOCKETS_SO_WAKEUP_CALLBACK               ( 17 ) /* void (*)( Socket_t ), passed as the value itself. */

/* ---- SOCKETS_Shutdown() directions ---------------------------------------- */

#define SOCKETS_SHUT_RD      ( 0 )
#define SOCKETS_SHUT_WR      ( 1 )
#define SOCKETS_SHUT_RDWR    ( 2 )

/* Longest host name SOCKETS_GetHostByName() accepts. */
#define securesocketsMAX_DNS_NAME_LENGTH    ( 253 )

/* Port of MQTT over TLS with ALPN, and the ALPN protocol name AWS IoT uses. */
#define securesocketsDEFAULT_TLS_DESTINATION_PORT    443
#define socketsAWS_IOT_ALPN_MQTT                     "x-amzn-mqtt-ca"

/* ---- Functions ------------------------------------------------------------ */

/* Prepares the port (starts the wake-up task). pdPASS or pdFAIL. */
lib_initDECLARE_LIB_INIT( SOCKETS_Init );

/* A new TCP socket, or SOCKETS_INVALID_SOCKET. Only SOCKETS_AF_INET,
 * SOCKETS_SOCK_STREAM, SOCKETS_IPPROTO_TCP is accepted. */
Socket_t SOCKETS_Socket( int32_t lDomain,
                         int32_t lType,
                         int32_t lProtocol );

/* Connects to pxAddress, waiting at most the send timeout.
 * SOCKETS_ERROR_NONE or a negative code; after a failure the socket can only
 * be closed. */
int32_t SOCKETS_Connect( Socket_t xSocket,
                         SocketsSockaddr_t * pxAddress,
                         Socklen_t xAddressLength );

/* Bytes received (> 0); 0 when nothing came within the receive timeout (at
 * once in non-blocking mode); a negative code on error, SOCKETS_ECLOSED once
 * the peer has closed or reset the connection. */
int32_t SOCKETS_Recv( Socket_t xSocket,
                      void * pvBuffer,
                      size_t xBufferLength,
                      uint32_t ulFlags );

/* Bytes sent (> 0, possibly fewer than asked if the send timeout passed);
 * 0 when nothing could be sent within the timeout; a negative code on error. */
int32_t SOCKETS_Send( Socket_t xSocket,
                      const void * pvBuffer,
                      size_t xDataLength,
                      uint32_t ulFlags );

/* Shuts down receiving, sending or both (SOCKETS_SHUT_*). */
int32_t SOCKETS_Shutdown( Socket_t xSocket,
                          uint32_t ulHow );

/* Closes the socket and frees it; its wake-up callback is never called again. */
int32_t SOCKETS_Close( Socket_t xSocket );

/* Sets an option (see above); lLevel is ignored. */
int32_t SOCKETS_SetSockOpt( Socket_t xSocket,
                            int32_t lLevel,
                            int32_t lOptionName,
                            const void * pvOptionValue,
                            size_t xOptionLength );

/* IPv4 address of pcHostName in network byte order, or 0 if it does not resolve. */
uint32_t SOCKETS_GetHostByName( const char * pcHostName );

/* ---- Byte order and address helpers --------------------------------------- */

#if defined( socketsconfigBYTE_ORDER ) && ( socketsconfigBYTE_ORDER == pdLITTLE_ENDIAN )

    #define SOCKETS_htonl( ulIn )                                      \
    ( ( uint32_t ) ( ( ( ( ulIn ) & 0xFF ) << 24 ) |                   \
                     ( ( ( ulIn ) & 0xFF00 ) << 8 ) |                  \
                     ( ( ( ulIn ) & 0xFF0000 ) >> 8 ) |                \
                     ( ( ( ulIn ) & 0xFF000000 ) >> 24 ) ) )

    #define SOCKETS_htons( usIn )    ( ( uint16_t ) ( ( ( usIn ) << 8U ) | ( ( usIn ) >> 8U ) ) )

    /* Address a.b.c.d in network byte order. */
    #define SOCKETS_inet_addr_quick( ucOctet0, ucOctet1, ucOctet2, ucOctet3 ) \
    ( ( ( ( uint32_t ) ( ucOctet3 ) ) << 24UL ) |                             \
      ( ( ( uint32_t ) ( ucOctet2 ) ) << 16UL ) |                             \
      ( ( ( uint32_t ) ( ucOctet1 ) ) << 8UL ) |                              \
      ( ( uint32_t ) ( ucOctet0 ) ) )

    /* Writes an address in network byte order as "a.b.c.d" (needs <stdio.h>). */
    #define SOCKETS_inet_ntoa( ulIPAddress, pucBuffer )          \
    sprintf( ( char * ) ( pucBuffer ), "%u.%u.%u.%u",            \
             ( unsigned ) ( ( ulIPAddress ) & 0xffUL ),          \
             ( unsigned ) ( ( ( ulIPAddress ) >> 8 ) & 0xffUL ), \
             ( unsigned ) ( ( ( ulIPAddress ) >> 16 ) & 0xffUL ), \
             ( unsigned ) ( ( ulIPAddress ) >> 24 ) )

#else /* Big-endian target: network order is host order. */

    #define SOCKETS_htonl( ulIn )    ( ( uint32_t ) ( ulIn ) )

    #define SOCKETS_htons( usIn )    ( ( uint16_t ) ( usIn ) )

    #define SOCKETS_inet_addr_quick( ucOctet0, ucOctet1, ucOctet2, ucOctet3 ) \
    ( ( ( ( uint32_t ) ( ucOctet0 ) ) << 24UL ) |                             \
      ( ( ( uint32_t ) ( ucOctet1 ) ) << 16UL ) |                             \
      ( ( ( uint32_t ) ( ucOctet2 ) ) << 8UL ) |                              \
      ( ( uint32_t ) ( ucOctet3 ) ) )

    #define SOCKETS_inet_ntoa( ulIPAddress, pucBuffer )           \
    sprintf( ( char * ) ( pucBuffer ), "%u.%u.%u.%u",             \
             ( unsigned ) ( ( ulIPAddress ) >> 24 ),              \
             ( unsigned ) ( ( ( ulIPAddress ) >> 16 ) & 0xffUL ), \
             ( unsigned ) ( ( ( ulIPAddress ) >> 8 ) & 0xffUL ),  \
             ( unsigned ) ( ( ulIPAddress ) & 0xffUL ) )

#endif /* socketsconfigBYTE_ORDER */

#define SOCKETS_ntohl( ulIn )    SOCKETS_htonl( ulIn )
#define SOCKETS_ntohs( usIn )    SOCKETS_htons( usIn )

#ifdef __cplusplus
}
#endif

#endif /* _AWS_SECURE_SOCKETS_H_ */
