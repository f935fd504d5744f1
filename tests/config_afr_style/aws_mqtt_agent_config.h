/*
 * An AFR v1.4.7-style project on the library's own TLS: no clock hook, no
 * random hook, the device key in the project's PKCS#11 module (SoftHSM2 in the
 * tests), the certificate in aws_clientcredential_keys.h, and the project's
 * default roots for connects whose pcCertificate is NULL. Everything else as
 * the demos.
 */
#ifndef _AWS_MQTT_AGENT_CONFIG_H_
#define _AWS_MQTT_AGENT_CONFIG_H_

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
#define mqttconfigTLS_PKCS11                          ( 1 )
#define mqttconfigTLS_PKCS11_PIN                      "0000"
#define mqttconfigTLS_DEFAULT_ROOTS_PEM               cSimDefaultRootsPem

#endif /* _AWS_MQTT_AGENT_CONFIG_H_ */
