/*
 * An AFR v1.4.7-style project on the library's own TLS: the demos' agent
 * configuration without the clock and random hooks, with the device key in the
 * project's PKCS#11 module (SoftHSM2 in the tests) and the certificate in
 * aws_clientcredential_keys.h. Connects whose pcCertificate is NULL trust the
 * simulator's default roots (mqttconfigTLS_DEFAULT_ROOTS_PEM, from the demos).
 */
#ifndef AFR_STYLE_MQTT_AGENT_CONFIG_H
#define AFR_STYLE_MQTT_AGENT_CONFIG_H

#define mqttconfigTLS_BACKEND    ( 1 ) /* mqttagentTLS_BACKEND_LIBRARY */
#include "../../c_demo/config/aws_mqtt_agent_config.h"

/* AFR projects name no clock or random hook. */
#undef mqttconfigTLS_TIME_FXN
#undef mqttconfigTLS_RANDOM_FXN

#define mqttconfigTLS_PKCS11        ( 1 )
#define mqttconfigTLS_PKCS11_PIN    "0000"

#endif /* AFR_STYLE_MQTT_AGENT_CONFIG_H */
