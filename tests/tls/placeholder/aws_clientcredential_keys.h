/*
 * A credential header as a project has it before anyone pasted a certificate
 * in: AFR v1.4 names, placeholder text instead of PEM. A TLS connect must fail
 * clearly (eMQTTAgentTLSBadClientCredentials), not crash.
 */
#ifndef AWS_CLIENT_CREDENTIAL_KEYS_H
#define AWS_CLIENT_CREDENTIAL_KEYS_H

#include <stdint.h>

#define keyCLIENT_CERTIFICATE_PEM                   "Paste client certificate here."
#define keyJITR_DEVICE_CERTIFICATE_AUTHORITY_PEM    NULL
#define keyCLIENT_PRIVATE_KEY_PEM                   "Paste client private key here."

#endif /* AWS_CLIENT_CREDENTIAL_KEYS_H */
