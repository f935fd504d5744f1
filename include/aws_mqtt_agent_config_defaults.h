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

#endif /* _AWS_MQTT_AGENT_CONFIG_DEFAULTS_H_ */
