/* MQTT agent configuration of the Cortex-M build check (AFR demo values). */
#ifndef _AWS_MQTT_AGENT_CONFIG_H_
#define _AWS_MQTT_AGENT_CONFIG_H_

#define mqttconfigKEEP_ALIVE_ACTUAL_INTERVAL_TICKS    ( pdMS_TO_TICKS( 300000 ) )
#define mqttconfigKEEP_ALIVE_TIMEOUT_TICKS            ( 5000 )
#define mqttconfigMQTT_TASK_STACK_DEPTH               ( ( uint32_t ) configMINIMAL_STACK_SIZE * ( uint32_t ) 4 )
#define mqttconfigMQTT_TASK_PRIORITY                  ( configMAX_PRIORITIES - 3 )
#define mqttconfigMAX_BROKERS                         ( 4 )
#define mqttconfigRX_BUFFER_SIZE                      ( 1024 + 128 )
#define mqttconfigMQTT_TASK_MAX_BLOCK_TICKS           ( ~( ( uint32_t ) 0 ) )

#endif /* _AWS_MQTT_AGENT_CONFIG_H_ */
