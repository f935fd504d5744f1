/*
 * The demos' agent configuration (../../config) with what differs on the
 * board: its own clock and random source for TLS (../board.c: the host's,
 * through semihosting, in place of an RTC and a TRNG), the agent task's stack
 * as measured here (README "Stack"), and AFR v1.4.7's demo keep-alive timeout.
 */
#ifndef BOARD_MQTT_AGENT_CONFIG_H
#define BOARD_MQTT_AGENT_CONFIG_H

#include "../../config/aws_mqtt_agent_config.h"

/* Words. The library's TLS handshake (RSA-2048 certificates both ways) takes
 * the agent task to 12,736 bytes on this board; 3,840 words leave 2.6 KB.
 * Without the library's TLS 1,024 words do (1,680 bytes measured, shadow
 * callbacks included). The stack overflow check (FreeRTOSConfig.h) fails the
 * run if it is ever too small. */
#undef mqttconfigMQTT_TASK_STACK_DEPTH
#define mqttconfigMQTT_TASK_STACK_DEPTH    ( ( uint32_t ) 3840 )

/* AFR's demo value (1 s): the CONNACK wait is the connect call's own
 * timeout, not this, so a slow TLS handshake on the device still connects. */
#undef mqttconfigKEEP_ALIVE_TIMEOUT_TICKS
#define mqttconfigKEEP_ALIVE_TIMEOUT_TICKS    ( 1000 )

#undef mqttconfigTLS_TIME_FXN
#define mqttconfigTLS_TIME_FXN             xBoardTlsGetTime
#undef mqttconfigTLS_RANDOM_FXN
#define mqttconfigTLS_RANDOM_FXN           xBoardTlsGetRandom

#endif /* BOARD_MQTT_AGENT_CONFIG_H */
