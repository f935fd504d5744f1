/* MQTT library configuration of the Cortex-M build check. */
#ifndef _AWS_MQTT_CONFIG_H_
#define _AWS_MQTT_CONFIG_H_

#define mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT    ( 1 )

#endif /* _AWS_MQTT_CONFIG_H_ */
