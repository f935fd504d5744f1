/* MQTT agent configuration of the footprint images: AFR v1.4.7's demo values,
 * mqttconfigMAX_BROKERS 4; the TLS hooks a product defines (stub ones here,
 * benches/footprint/stub_tls_hooks.c, linked into every image). TLS record
 * buffers keep their defaults: they come from the FreeRTOS heap at connect,
 * not from .data/.bss. */
#ifndef _AWS_MQTT_AGENT_CONFIG_H_
#define _AWS_MQTT_AGENT_CONFIG_H_

#define mqttconfigENABLE_METRICS                      ( 1 )
#define mqttconfigKEEP_ALIVE_INTERVAL_SECONDS         ( 1200 )
#define mqttconfigKEEP_ALIVE_ACTUAL_INTERVAL_TICKS    ( 30000 )
#define mqttconfigKEEP_ALIVE_TIMEOUT_TICKS            ( 1000 )
#define mqttconfigRX_BUFFER_SIZE                      ( 1024 )
#define mqttconfigMQTT_TASK_MAX_BLOCK_TICKS           ( ~( ( uint32_t ) 0 ) )
#define mqttconfigMQTT_TASK_STACK_DEPTH               ( configMINIMAL_STACK_SIZE * 4 )
#define mqttconfigMQTT_TASK_PRIORITY                  ( configMAX_PRIORITIES - 3 )
#define mqttconfigMAX_BROKERS                         ( 4 )
#define mqttconfigMAX_PARALLEL_OPS                    ( 5 )
#define mqttconfigTCP_SEND_TIMEOUT_MS                 ( 2000 )

/* TLS: wall-clock time and random bytes (only referenced by a library built
 * with the `tls` feature). */
#define mqttconfigTLS_TIME_FXN                        xFootprintTlsGetTime
#define mqttconfigTLS_RANDOM_FXN                      xFootprintTlsGetRandom

#endif /* _AWS_MQTT_AGENT_CONFIG_H_ */
