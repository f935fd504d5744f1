/* MQTT agent configuration of the simulator demos and tests. */
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

/* TLS by the library (rustls): the simulator's Secure Sockets port does plain TCP. */
#ifndef mqttconfigTLS_BACKEND
    #define mqttconfigTLS_BACKEND                     mqttagentTLS_BACKEND_LIBRARY
#endif

/* TLS: the simulator's clock and random source (c_demo/common/sim_support.c). */
#define mqttconfigTLS_TIME_FXN                        xSimTlsGetTime
#define mqttconfigTLS_RANDOM_FXN                      xSimTlsGetRandom
/* Roots trusted when pcCertificate is NULL: empty until a test fills it, which
 * means the built-in Amazon roots. */
#define mqttconfigTLS_DEFAULT_ROOTS_PEM               cSimDefaultRootsPem

#endif /* _AWS_MQTT_AGENT_CONFIG_H_ */
