/*
 * A stub AFR Secure Sockets port for the footprint images: every call fails,
 * as a port with no network would. It is linked into every image, with and
 * without the library, so it costs the library nothing; it only has to
 * satisfy the library's references with AFR's signatures (checked against
 * c_demo/secure_sockets/aws_secure_sockets.h).
 *
 * Also here: vLoggingPrintf (referenced only with mqttconfigENABLE_DEBUG_LOGS).
 * The heap probe (heap_probe/) links this file on the POSIX simulator too.
 */
#include "FreeRTOS.h"
#include "aws_secure_sockets.h"

BaseType_t SOCKETS_Init( void )
{
    return pdPASS;
}

Socket_t SOCKETS_Socket( int32_t lDomain,
                         int32_t lType,
                         int32_t lProtocol )
{
    ( void ) lDomain;
    ( void ) lType;
    ( void ) lProtocol;
    return SOCKETS_INVALID_SOCKET;
}

int32_t SOCKETS_Connect( Socket_t xSocket,
                         SocketsSockaddr_t * pxAddress,
                         Socklen_t xAddressLength )
{
    ( void ) xSocket;
    ( void ) pxAddress;
    ( void ) xAddressLength;
    return SOCKETS_SOCKET_ERROR;
}

int32_t SOCKETS_Recv( Socket_t xSocket,
                      void * pvBuffer,
                      size_t xBufferLength,
                      uint32_t ulFlags )
{
    ( void ) xSocket;
    ( void ) pvBuffer;
    ( void ) xBufferLength;
    ( void ) ulFlags;
    return SOCKETS_ENOTCONN;
}

int32_t SOCKETS_Send( Socket_t xSocket,
                      const void * pvBuffer,
                      size_t xDataLength,
                      uint32_t ulFlags )
{
    ( void ) xSocket;
    ( void ) pvBuffer;
    ( void ) xDataLength;
    ( void ) ulFlags;
    return SOCKETS_ENOTCONN;
}

int32_t SOCKETS_Shutdown( Socket_t xSocket,
                          uint32_t ulHow )
{
    ( void ) xSocket;
    ( void ) ulHow;
    return SOCKETS_ENOTCONN;
}

int32_t SOCKETS_Close( Socket_t xSocket )
{
    ( void ) xSocket;
    return SOCKETS_EINVAL;
}

int32_t SOCKETS_SetSockOpt( Socket_t xSocket,
                            int32_t lLevel,
                            int32_t lOptionName,
                            const void * pvOptionValue,
                            size_t xOptionLength )
{
    ( void ) xSocket;
    ( void ) lLevel;
    ( void ) lOptionName;
    ( void ) pvOptionValue;
    ( void ) xOptionLength;
    return SOCKETS_ENOPROTOOPT;
}

uint32_t SOCKETS_GetHostByName( const char * pcHostName )
{
    ( void ) pcHostName;
    return 0;
}

void vLoggingPrintf( const char * pcFormat,
                     ... )
{
    ( void ) pcFormat;
}
