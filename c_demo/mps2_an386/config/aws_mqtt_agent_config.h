/*
 * The demos' agent configuration (../../config) with what differs on the
 * board: its own clock and random source for TLS (../board.c: the host's,
 * through semihosting, in place of an RTC and a TRNG) and the agent task's
 * stack in words, from the exit report's figures (README "Stack").
 */
#ifndef BOARD_MQTT_AGENT_CONFIG_H
#define BOARD_MQTT_AGENT_CONFIG_H

#include "../../config/aws_mqtt_agent_config.h"

#undef mqttconfigMQTT_TASK_STACK_DEPTH
#define mqttconfigMQTT_TASK_STACK_DEPTH    ( ( uint32_t ) 4096 )

#undef mqttconfigTLS_TIME_FXN
#define mqttconfigTLS_TIME_FXN             xBoardTlsGetTime
#undef mqttconfigTLS_RANDOM_FXN
#define mqttconfigTLS_RANDOM_FXN           xBoardTlsGetRandom

#endif /* BOARD_MQTT_AGENT_CONFIG_H */
