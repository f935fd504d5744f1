/*
 * The library's TLS with the device key behind the project's signing hook (a
 * secure element without PKCS#11): the library never sees the key. The
 * certificate is in aws_clientcredential_keys.h; the rest as the demos.
 */
#ifndef SIGN_HOOK_MQTT_AGENT_CONFIG_H
#define SIGN_HOOK_MQTT_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define mqttconfigTLS_BACKEND    ( 1 ) /* mqttagentTLS_BACKEND_LIBRARY */
#include "../../c_demo/config/aws_mqtt_agent_config.h"

/* The test's own signer (tests/tls/test_agent_tls.c), holding the key. */
BaseType_t xTestSignHook( uint16_t usScheme,
                          const uint8_t * pucDigest,
                          size_t xDigestLength,
                          uint8_t * pucSignature,
                          size_t * pxSignatureLength );
#define mqttconfigTLS_SIGN_FXN    xTestSignHook

#endif /* SIGN_HOOK_MQTT_AGENT_CONFIG_H */
