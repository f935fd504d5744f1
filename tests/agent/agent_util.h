/* Helpers shared by the MQTT agent's C tests. */
#ifndef AGENT_UTIL_H
#define AGENT_UTIL_H

#include "FreeRTOS.h"
#include "aws_mqtt_agent.h"

#define T_TIMEOUT    pdMS_TO_TICKS( 5000 )

/* Connects xClient to 127.0.0.1:usPort with a unique client id. */
MQTTAgentReturnCode_t xUtilConnect( MQTTAgentHandle_t xClient,
                                    uint16_t usPort,
                                    const char * pcClientId,
                                    MQTTAgentCallback_t pxCallback,
                                    void * pvUserData,
                                    TickType_t xTimeout );

#if ( mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT == 1 )
MQTTAgentReturnCode_t xUtilSubscribe( MQTTAgentHandle_t xClient,
                                      const char * pcFilter,
                                      MQTTQoS_t xQoS,
                                      MQTTPublishCallback_t pxCallback,
                                      void * pvContext );
#endif

MQTTAgentReturnCode_t xUtilPublish( MQTTAgentHandle_t xClient,
                                    const char * pcTopic,
                                    MQTTQoS_t xQoS,
                                    const void * pvData,
                                    uint32_t ulLength,
                                    TickType_t xTimeout );

/* Free buffers in the central pool now (takes them all, then gives them back). */
int iUtilPoolFree( void );

/* Waits up to xTicks for *piCounter to reach iTarget. */
BaseType_t xUtilWaitFor( volatile int * piCounter, int iTarget, TickType_t xTicks );

/* main() of an agent test: BUFFERPOOL_Init, MQTT_AGENT_Init, then vTestMain. */
void vUtilAgentTestMain( void ( * pvBody )( void ), TickType_t xWatchdogTicks ) __attribute__( ( noreturn ) );

#endif /* AGENT_UTIL_H */
