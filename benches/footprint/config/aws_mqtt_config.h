/* MQTT library configuration of the footprint images: AFR's defaults
 * (subscription management on, 8 subscriptions of 128-byte filters, no debug
 * logs). No aws_shadow_config.h: the shadow client's defaults apply
 * (1 client, 1 thing with callbacks). */
#ifndef _AWS_MQTT_CONFIG_H_
#define _AWS_MQTT_CONFIG_H_

#define mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT            ( 1 )
#define mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH     ( 128 )
#define mqttconfigSUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS    ( 8 )
#define mqttconfigENABLE_DEBUG_LOGS                         ( 0 )

#endif /* _AWS_MQTT_CONFIG_H_ */
