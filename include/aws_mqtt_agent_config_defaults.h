/*
 * Defaults for the MQTT agent's configuration, as in Amazon FreeRTOS v1.
 * A project overrides any of them in its own aws_mqtt_agent_config.h, which is
 * included first. The Rust library reads the resulting values at build time
 * (build.rs runs the project's compiler over these headers), so a change here
 * or in the project's header changes the library's behaviour.
 */
#ifndef _AWS_MQTT_AGENT_CONFIG_DEFAULTS_H_
#define _AWS_MQTT_AGENT_CONFIG_DEFAULTS_H_

#include "FreeRTOS.h"
#include "task.h"

/* 1: the CONNECT user name carries the SDK, kernel version and platform name. */
#ifndef mqttconfigENABLE_METRICS
    #define mqttconfigENABLE_METRICS    ( 1 )
#endif

/* Keep-alive interval announced to the broker in CONNECT. */
#ifndef mqttconfigKEEP_ALIVE_INTERVAL_SECONDS
    #define mqttconfigKEEP_ALIVE_INTERVAL_SECONDS    ( 1200 )
#endif

/* Silence after which the agent sends a PINGREQ. */
#ifndef mqttconfigKEEP_ALIVE_ACTUAL_INTERVAL_TICKS
    #define mqttconfigKEEP_ALIVE_ACTUAL_INTERVAL_TICKS    ( 5000 )
#endif

/* How long the agent waits for PINGRESP before it drops the connection. */
#ifndef mqttconfigKEEP_ALIVE_TIMEOUT_TICKS
    #define mqttconfigKEEP_ALIVE_TIMEOUT_TICKS    ( 1000 )
#endif

/* The longest the agent task blocks when the socket cannot wake it up.
 * There is no safe default: every project chooses it. */
#ifndef mqttconfigMQTT_TASK_MAX_BLOCK_TICKS
    #error "mqttconfigMQTT_TASK_MAX_BLOCK_TICKS must be defined in aws_mqtt_agent_config.h."
#endif

#ifndef mqttconfigMQTT_TASK_STACK_DEPTH
    #define mqttconfigMQTT_TASK_STACK_DEPTH    ( configMINIMAL_STACK_SIZE * 4 )
#endif

#ifndef mqttconfigMQTT_TASK_PRIORITY
    #define mqttconfigMQTT_TASK_PRIORITY    ( tskIDLE_PRIORITY )
#endif

/* Number of MQTT clients that may exist at once. */
#ifndef mqttconfigMAX_BROKERS
    #define mqttconfigMAX_BROKERS    ( 1 )
#endif

/* Operations in flight per client. */
#ifndef mqttconfigMAX_PARALLEL_OPS
    #define mqttconfigMAX_PARALLEL_OPS    ( 5 )
#endif

#ifndef mqttconfigTCP_SEND_TIMEOUT_MS
    #define mqttconfigTCP_SEND_TIMEOUT_MS    ( 2000 )
#endif

/* Size of each read from the socket (not a limit on message size). */
#ifndef mqttconfigRX_BUFFER_SIZE
    #define mqttconfigRX_BUFFER_SIZE    ( 1024 )
#endif

/* Where received publishes are stored: the central buffer pool by default. */
#ifndef mqttconfigGET_FREE_BUFFER_FXN
    #define mqttconfigGET_FREE_BUFFER_FXN    BUFFERPOOL_GetFreeBuffer
#endif

#ifndef mqttconfigRETURN_BUFFER_FXN
    #define mqttconfigRETURN_BUFFER_FXN    BUFFERPOOL_ReturnBuffer
#endif

/*
 * TLS (connections with mqttagentREQUIRE_TLS; the library built with its `tls`
 * feature). These are this library's own additions; AFR's agent left TLS to
 * the Secure Sockets port.
 */

/* Who does TLS for mqttagentREQUIRE_TLS / mqttagentUSE_AWS_IOT_ALPN_443:
 *   mqttagentTLS_BACKEND_SOCKETS_PORT (the default, AFR v1.4.7's way): the
 *       project's Secure Sockets port (mbedTLS with the keys behind PKCS#11, a
 *       network processor). The agent sets SOCKETS_SO_REQUIRE_TLS,
 *       SOCKETS_SO_TRUSTED_SERVER_CERTIFICATE (pcCertificate, when given),
 *       SOCKETS_SO_SERVER_NAME_INDICATION (unless the URL is an IP address) and
 *       SOCKETS_SO_ALPN_PROTOCOLS (mqttagentUSE_AWS_IOT_ALPN_443) before
 *       SOCKETS_Connect; a port that refuses one fails the connect.
 *   mqttagentTLS_BACKEND_LIBRARY: the library's own TLS (rustls), for ports
 *       without TLS; needs the library built with FEATURES tls. The settings
 *       below and the hooks apply to it. */
#define mqttagentTLS_BACKEND_SOCKETS_PORT    ( 0 )
#define mqttagentTLS_BACKEND_LIBRARY         ( 1 )
#ifndef mqttconfigTLS_BACKEND
    #define mqttconfigTLS_BACKEND    mqttagentTLS_BACKEND_SOCKETS_PORT
#endif

/* Receive buffer of one TLS connection, in bytes: must hold the largest record
 * the server may send. The default holds any TLS 1.2/1.3 record with the
 * AES-GCM suites we offer (16384 + 256 + 5); smaller works only with a server
 * known to send smaller records. Allocated from the FreeRTOS heap at connect. */
#ifndef mqttconfigTLS_RX_BUFFER_SIZE
    #define mqttconfigTLS_RX_BUFFER_SIZE    ( 16645 )
#endif

/* Send buffer of one TLS connection, in bytes: the largest record we send
 * (longer MQTT packets go out as several records). At least 256. */
#ifndef mqttconfigTLS_TX_BUFFER_SIZE
    #define mqttconfigTLS_TX_BUFFER_SIZE    ( 4096 )
#endif

/* The longest a TLS handshake may hold the agent task, in milliseconds, whatever
 * the connect's xTimeoutTicks (portMAX_DELAY included): the handshake runs in
 * the agent task, and every client waits meanwhile. */
#ifndef mqttconfigTLS_HANDSHAKE_TIMEOUT_MS
    #define mqttconfigTLS_HANDSHAKE_TIMEOUT_MS    ( 30000 )
#endif

/* Certificate dates without a clock. 0 (as AFR projects expect: they have no
 * clock hook): while mqttconfigTLS_TIME_FXN is missing or does not know the
 * time, the library's build time is the lower bound for "now" (a certificate
 * that expired before the library was built is refused; a newer one is
 * accepted). 1: such a connect fails instead (eMQTTAgentTLSNoTime). */
#ifndef mqttconfigTLS_STRICT_TIME
    #define mqttconfigTLS_STRICT_TIME    ( 0 )
#endif

/* The device's TLS key in the project's PKCS#11 module, as AFR's aws_tls.c
 * used it (library back-end): 1 finds the private key labelled
 * mqttconfigTLS_PKCS11_KEY_LABEL and signs with C_Sign (the key never leaves
 * the token), takes the certificate from the credential header or else from
 * the token (mqttconfigTLS_PKCS11_CERT_LABEL), and takes randomness from
 * C_GenerateRandom when no mqttconfigTLS_RANDOM_FXN is named. The project
 * links its PKCS#11 module (C_Initialize, C_GetSlotList, C_OpenSession,
 * C_Login, C_FindObjects*, C_GetAttributeValue, C_SignInit, C_Sign,
 * C_GenerateRandom). mqttconfigTLS_PKCS11_PIN: the user PIN, "" for none. */
#ifndef mqttconfigTLS_PKCS11
    #define mqttconfigTLS_PKCS11    ( 0 )
#endif
#ifndef mqttconfigTLS_PKCS11_KEY_LABEL
    #define mqttconfigTLS_PKCS11_KEY_LABEL    "Device Priv TLS Key"
#endif
#ifndef mqttconfigTLS_PKCS11_CERT_LABEL
    #define mqttconfigTLS_PKCS11_CERT_LABEL    "Device Cert"
#endif
#ifndef mqttconfigTLS_PKCS11_PIN
    #define mqttconfigTLS_PKCS11_PIN    ""
#endif

/*
 * Optional hooks, no default (define them to the names of your functions):
 *
 *   BaseType_t mqttconfigTLS_TIME_FXN( uint64_t * pullUnixSeconds );
 *       pdTRUE and the current time (seconds since 1970-01-01 UTC) when the
 *       device knows it. Certificate validity is checked against it.
 *   BaseType_t mqttconfigTLS_RANDOM_FXN( uint8_t * pucBuffer, size_t xLength );
 *       pdTRUE once pucBuffer holds xLength cryptographically secure random bytes.
 *   BaseType_t mqttconfigTLS_SIGN_FXN( uint16_t usScheme, const uint8_t * pucDigest,
 *                                      size_t xDigestLength, uint8_t * pucSignature,
 *                                      size_t * pxSignatureLength );
 *       Signs with the device key, which the library never sees (a key in a
 *       secure element without PKCS#11): the SHA-256 digest (32 bytes) for
 *       the TLS SignatureScheme usScheme (0x0403 ECDSA P-256: ASN.1 DER
 *       signature; 0x0804 RSA-PSS and 0x0401 RSA PKCS#1 v1.5: the raw
 *       signature), written to pucSignature (*pxSignatureLength bytes of
 *       room, set to the length written); pdTRUE on success. The key's kind
 *       comes from the credential header's certificate. Wins over PKCS#11.
 *   const char mqttconfigTLS_DEFAULT_ROOTS_PEM[];
 *       NUL-terminated PEM text of one or more root certificates that a TLS
 *       connect trusts when its pcCertificate is NULL (e.g. a private
 *       broker's CA), instead of the built-in Amazon roots AFR v1.4.7 trusted
 *       (Amazon Root CA 1-4, Starfield Class 2, VeriSign Class 3 G5).
 *
 * Without a time hook, or while it returns pdFALSE, certificate dates are
 * checked against the library's build time (see mqttconfigTLS_STRICT_TIME).
 * Without a random hook, or when it fails, a TLS connect fails.
 */

#endif /* _AWS_MQTT_AGENT_CONFIG_DEFAULTS_H_ */
