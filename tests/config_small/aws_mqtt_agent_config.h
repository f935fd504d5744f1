/*
 * Non-default MQTT agent configuration: every value differs from AFR's
 * default and from c_demo/, so that tests/agent/test_agent_config.c can show
 * that each one changes the library's behaviour.
 */
#ifndef _AWS_MQTT_AGENT_CONFIG_H_
#define _AWS_MQTT_AGENT_CONFIG_H_

#include "FreeRTOS.h"
#include "task.h"

#include <stdint.h>

#define mqttconfigENABLE_METRICS                      ( 0 )
#define mqttconfigKEEP_ALIVE_INTERVAL_SECONDS         ( 77 )
#define mqttconfigKEEP_ALIVE_ACTUAL_INTERVAL_TICKS    ( 400 )
#define mqttconfigKEEP_ALIVE_TIMEOUT_TICKS            ( 300 )
#define mqttconfigMQTT_TASK_STACK_DEPTH               ( configMINIMAL_STACK_SIZE * 3 )
#define mqttconfigMQTT_TASK_PRIORITY                  ( tskIDLE_PRIORITY + 2 )
#define mqttconfigMAX_BROKERS                         ( 2 )
#define mqttconfigMAX_PARALLEL_OPS                    ( 2 )
#define mqttconfigTCP_SEND_TIMEOUT_MS                 ( 700 )
#define mqttconfigRX_BUFFER_SIZE                      ( 16 )
#define mqttconfigMQTT_TASK_MAX_BLOCK_TICKS           ( 25 )
/* The library's TLS; no time hook either: strict projects refuse TLS without the time. */
#define mqttconfigTLS_BACKEND                         ( 1 )
#define mqttconfigTLS_STRICT_TIME                     ( 1 )

/* The project's own buffer functions (counting wrappers in the test). */
uint8_t * TestGetFreeBuffer( uint32_t * pulBufferLength );
void TestReturnBuffer( uint8_t * pucBuffer );
#define mqttconfigGET_FREE_BUFFER_FXN                 TestGetFreeBuffer
#define mqttconfigRETURN_BUFFER_FXN                   TestReturnBuffer

#endif /* _AWS_MQTT_AGENT_CONFIG_H_ */
