/* Non-default MQTT library configuration (see aws_mqtt_agent_config.h). */
#ifndef _AWS_MQTT_CONFIG_H_
#define _AWS_MQTT_CONFIG_H_

#define mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT    ( 0 )
#define mqttconfigENABLE_DEBUG_LOGS                 ( 1 )

#endif /* _AWS_MQTT_CONFIG_H_ */
