/*
 * Defaults for the MQTT library's configuration, as in Amazon FreeRTOS v1.
 * A project overrides them in its own aws_mqtt_config.h, included first.
 */
#ifndef _AWS_MQTT_CONFIG_DEFAULTS_H_
#define _AWS_MQTT_CONFIG_DEFAULTS_H_

/* 1: per-topic-filter subscription callbacks (adds fields to
 * MQTTAgentSubscribeParams_t). */
#ifndef mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT
    #define mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT            ( 1 )
#endif

#ifndef mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH
    #define mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH     ( 128 )
#endif

#ifndef mqttconfigSUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS
    #define mqttconfigSUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS    ( 8 )
#endif

#ifndef mqttconfigASSERT
    #define mqttconfigASSERT( x )
#endif

#ifndef mqttconfigENABLE_DEBUG_LOGS
    #define mqttconfigENABLE_DEBUG_LOGS    ( 0 )
#endif

#endif /* _AWS_MQTT_CONFIG_DEFAULTS_H_ */
