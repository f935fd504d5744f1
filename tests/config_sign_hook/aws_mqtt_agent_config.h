/*
 * The library's TLS with the device key behind the project's signing hook
 * (a secure element without PKCS#11): the library never sees the key. The
 * certificate is in aws_clientcredential_keys.h. Everything else as the demos.
 */
#ifndef _AWS_MQTT_AGENT_CONFIG_H_
#define _AWS_MQTT_AGENT_CONFIG_H_

#include <stddef.h>
#include <stdint.h>

#include "FreeRTOS.h"
#include "task.h"

#define mqttconfigENABLE_METRICS                      ( 1 )
#define mqttconfigKEEP_ALIVE_INTERVAL_SECONDS         ( 1200 )
#define mqttconfigKEEP_ALIVE_ACTUAL_INTERVAL_TICKS    ( pdMS_TO_TICKS( 30000 ) )
#define mqttconfigKEEP_ALIVE_TIMEOUT_TICKS            ( 5000 )
#define mqttconfigMQTT_TASK_STACK_DEPTH               ( ( uint32_t ) configMINIMAL_STACK_SIZE * ( uint32_t ) 4 )
#define mqttconfigMQTT_TASK_PRIORITY                  ( configMAX_PRIORITIES - 3 )
#define mqttconfigMAX_BROKERS                         ( 4 )
#define mqttconfigMAX_PARALLEL_OPS                    ( 5 )
#define mqttconfigTCP_SEND_TIMEOUT_MS                 ( 2000 )
#define mqttconfigRX_BUFFER_SIZE                      ( 1024 )
#define mqttconfigMQTT_TASK_MAX_BLOCK_TICKS           ( 100 )

#define mqttconfigTLS_BACKEND                         ( 1 ) /* mqttagentTLS_BACKEND_LIBRARY */
#define mqttconfigTLS_TIME_FXN                        xSimTlsGetTime
#define mqttconfigTLS_RANDOM_FXN                      xSimTlsGetRandom

/* The test's own signer (tests/tls/test_agent_tls.c), holding the key. */
BaseType_t xTestSignHook( uint16_t usScheme,
                          const uint8_t * pucDigest,
                          size_t xDigestLength,
                          uint8_t * pucSignature,
                          size_t * pxSignatureLength );
#define mqttconfigTLS_SIGN_FXN                        xTestSignHook

#endif /* _AWS_MQTT_AGENT_CONFIG_H_ */
