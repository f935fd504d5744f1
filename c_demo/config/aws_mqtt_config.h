/* MQTT library configuration of the simulator demos and tests. */
#ifndef _AWS_MQTT_CONFIG_H_
#define _AWS_MQTT_CONFIG_H_

#define mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT            ( 1 )
#define mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH     ( 128 )
#define mqttconfigSUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS    ( 8 )
#define mqttconfigENABLE_DEBUG_LOGS                         ( 0 )

#endif /* _AWS_MQTT_CONFIG_H_ */
