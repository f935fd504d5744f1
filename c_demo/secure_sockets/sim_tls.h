/*
 * TLS inside the simulator's Secure Sockets port (sim_tls_mbedtls.c), used by
 * aws_secure_sockets_posix.c when built with SOCKETS_SIM_TLS=1.
 */
#ifndef SIM_TLS_H
#define SIM_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "FreeRTOS.h"

typedef struct SimTls SimTls_t;

/* A socket's TLS options, before its connect; NULL when out of memory. */
SimTls_t * pxSimTlsCreate( void );

/* SOCKETS_SO_REQUIRE_TLS, _TRUSTED_SERVER_CERTIFICATE, _SERVER_NAME_INDICATION,
 * _ALPN_PROTOCOLS: stores the value (copied); a SOCKETS_* code. */
int32_t lSimTlsSetOption( SimTls_t * pxTls,
                          int32_t lOption,
                          const void * pvValue,
                          size_t xLength );

/* pdTRUE once SOCKETS_SO_REQUIRE_TLS was set. */
BaseType_t xSimTlsRequired( const SimTls_t * pxTls );

/* The handshake over the connected non-blocking descriptor iFd, within
 * xTimeout ticks: SOCKETS_ERROR_NONE or a SOCKETS_TLS_* code. */
int32_t lSimTlsHandshake( SimTls_t * pxTls,
                          int iFd,
                          TickType_t xTimeout );

/* Like recv()/send() with MSG_DONTWAIT: bytes, 0 at the end of the session
 * (recv), or -1 with errno EAGAIN (nothing now) or ECONNRESET. */
ssize_t xSimTlsRecv( SimTls_t * pxTls,
                     void * pvBuffer,
                     size_t xLength );
ssize_t xSimTlsSend( SimTls_t * pxTls,
                     const void * pvBuffer,
                     size_t xLength );

/* Ends the session (close_notify), best effort. */
void vSimTlsCloseNotify( SimTls_t * pxTls );

/* Frees everything (NULL is fine). */
void vSimTlsDelete( SimTls_t * pxTls );

#endif /* SIM_TLS_H */
