/*
 * Hands the project's credential header to the library (TLS client
 * authentication), compiled with the project's include path by
 * cmake/AfrCloud.cmake. Both AFR naming generations work unchanged:
 *   v1.4 and later: #define keyCLIENT_CERTIFICATE_PEM / keyCLIENT_PRIVATE_KEY_PEM
 *   v1.0:           static const char clientcredentialCLIENT_CERTIFICATE_PEM[] /
 *                   clientcredentialCLIENT_PRIVATE_KEY_PEM[]
 * Without the header (or with NULL macros) the device presents no certificate.
 */
#include <stddef.h>

#if defined( AFR_CLOUD_NO_CREDENTIAL_HEADER )
    /* The project asked for no credential header. */
#elif defined( __has_include )
    #if __has_include( "aws_clientcredential_keys.h" )
        #include "aws_clientcredential_keys.h"
        #define afrcloudHAVE_CREDENTIAL_HEADER    1
    #endif
#endif

void afr_cloud_credential_header( const char ** ppcCertificate,
                                  const char ** ppcPrivateKey );

void afr_cloud_credential_header( const char ** ppcCertificate,
                                  const char ** ppcPrivateKey )
{
#if defined( keyCLIENT_CERTIFICATE_PEM ) && defined( keyCLIENT_PRIVATE_KEY_PEM )
    *ppcCertificate = keyCLIENT_CERTIFICATE_PEM;
    *ppcPrivateKey = keyCLIENT_PRIVATE_KEY_PEM;
#elif defined( afrcloudHAVE_CREDENTIAL_HEADER )
    *ppcCertificate = clientcredentialCLIENT_CERTIFICATE_PEM;
    *ppcPrivateKey = clientcredentialCLIENT_PRIVATE_KEY_PEM;
#else
    *ppcCertificate = NULL;
    *ppcPrivateKey = NULL;
#endif
}
