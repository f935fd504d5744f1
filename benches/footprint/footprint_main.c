/*
 * The footprint images' main(), compiled three times:
 *
 *   FOOTPRINT_LEVEL 0  no library call: the baseline (kernel, startup, stub
 *                      sockets, one task and the scheduler)
 *   FOOTPRINT_LEVEL 1  + every MQTT_AGENT_* and BUFFERPOOL_* function
 *   FOOTPRINT_LEVEL 2  + every SHADOW_* function
 *
 * Every image creates the same task and starts the scheduler, so the images
 * differ only by the library calls (and the code the linker keeps for them).
 * Each call's result goes to a volatile, so nothing is optimised away.
 * Nothing here is meant to run against a broker: the stub sockets fail.
 */
#include "FreeRTOS.h"
#include "task.h"

#if FOOTPRINT_LEVEL >= 1
    #include "aws_bufferpool.h"
    #include "aws_mqtt_agent.h"
#endif
#if FOOTPRINT_LEVEL >= 2
    #include "aws_shadow.h"
#endif

#ifndef FOOTPRINT_LEVEL
    #error "FOOTPRINT_LEVEL must be 0, 1 or 2"
#endif

/* Where results go, so that no call can be dropped. */
static volatile uintptr_t uxSink;

#define SINK( x )    ( uxSink += ( uintptr_t ) ( x ) )

#if FOOTPRINT_LEVEL >= 1
static const uint8_t ucTopic[] = "footprint/topic";
static const uint8_t ucClientId[] = "footprint";

static void prvAgentAndPool( void )
{
    MQTTAgentHandle_t xHandle = NULL;
    uint32_t ulLength = 128;
    uint8_t * pucBuffer;

    SINK( BUFFERPOOL_Init() );
    pucBuffer = BUFFERPOOL_GetFreeBuffer( &ulLength );
    SINK( pucBuffer );
    BUFFERPOOL_ReturnBuffer( pucBuffer );

    SINK( MQTT_AGENT_Init() );
    SINK( MQTT_AGENT_Create( &xHandle ) );

    MQTTAgentConnectParams_t xConnect =
    {
        .pcURL            = "192.0.2.1",
        .xFlags           = mqttagentURL_IS_IP_ADDRESS,
        .usPort           = 1883,
        .pucClientId      = ucClientId,
        .usClientIdLength = ( uint16_t ) ( sizeof( ucClientId ) - 1 ),
    };
    SINK( MQTT_AGENT_Connect( xHandle, &xConnect, pdMS_TO_TICKS( 1000 ) ) );

    MQTTAgentSubscribeParams_t xSubscribe =
    {
        .pucTopic      = ucTopic,
        .usTopicLength = ( uint16_t ) ( sizeof( ucTopic ) - 1 ),
        .xQoS          = eMQTTQoS1,
    };
    SINK( MQTT_AGENT_Subscribe( xHandle, &xSubscribe, pdMS_TO_TICKS( 1000 ) ) );

    MQTTAgentPublishParams_t xPublish =
    {
        .pucTopic      = ucTopic,
        .usTopicLength = ( uint16_t ) ( sizeof( ucTopic ) - 1 ),
        .xQoS          = eMQTTQoS1,
        .pvData        = "hello",
        .ulDataLength  = 5,
    };
    SINK( MQTT_AGENT_Publish( xHandle, &xPublish, pdMS_TO_TICKS( 1000 ) ) );

    MQTTAgentUnsubscribeParams_t xUnsubscribe =
    {
        .pucTopic      = ucTopic,
        .usTopicLength = ( uint16_t ) ( sizeof( ucTopic ) - 1 ),
    };
    SINK( MQTT_AGENT_Unsubscribe( xHandle, &xUnsubscribe, pdMS_TO_TICKS( 1000 ) ) );
    SINK( MQTT_AGENT_ReturnBuffer( xHandle, ( MQTTBufferHandle_t ) uxSink ) );
    SINK( MQTT_AGENT_Disconnect( xHandle, pdMS_TO_TICKS( 1000 ) ) );
    SINK( MQTT_AGENT_Delete( xHandle ) );
}
#endif /* FOOTPRINT_LEVEL >= 1 */

#if FOOTPRINT_LEVEL >= 2
static void prvShadow( void )
{
    ShadowClientHandle_t xShadow = NULL;
    ShadowCreateParams_t xCreate =
    {
        .xMQTTClientType   = eDedicatedMQTTClient,
        .xMQTTClientHandle = NULL,
    };

    SINK( SHADOW_ClientCreate( &xShadow, &xCreate ) );

    MQTTAgentConnectParams_t xConnect =
    {
        .pcURL            = "192.0.2.1",
        .xFlags           = mqttagentURL_IS_IP_ADDRESS,
        .usPort           = 1883,
        .pucClientId      = ucClientId,
        .usClientIdLength = ( uint16_t ) ( sizeof( ucClientId ) - 1 ),
    };
    SINK( SHADOW_ClientConnect( xShadow, &xConnect, pdMS_TO_TICKS( 1000 ) ) );

    ShadowCallbackParams_t xCallbacks = { .pcThingName = "footprint" };
    SINK( SHADOW_RegisterCallbacks( xShadow, &xCallbacks, pdMS_TO_TICKS( 1000 ) ) );

    static const char cDocument[] = "{\"state\":{\"reported\":{\"on\":true}},\"clientToken\":\"1\"}";
    ShadowOperationParams_t xOperation =
    {
        .pcThingName  = "footprint",
        .pcData       = cDocument,
        .ulDataLength = sizeof( cDocument ) - 1,
        .xQoS         = eMQTTQoS0,
    };
    SINK( SHADOW_Update( xShadow, &xOperation, pdMS_TO_TICKS( 1000 ) ) );
    SINK( SHADOW_Get( xShadow, &xOperation, pdMS_TO_TICKS( 1000 ) ) );
    SINK( SHADOW_ReturnMQTTBuffer( xShadow, xOperation.xBuffer ) );
    SINK( SHADOW_Delete( xShadow, &xOperation, pdMS_TO_TICKS( 1000 ) ) );
    SINK( SHADOW_ClientDisconnect( xShadow ) );
    SINK( SHADOW_ClientDelete( xShadow ) );
}
#endif /* FOOTPRINT_LEVEL >= 2 */

static void prvFootprintTask( void * pvParameters )
{
    ( void ) pvParameters;

    #if FOOTPRINT_LEVEL >= 1
        prvAgentAndPool();
    #endif
    #if FOOTPRINT_LEVEL >= 2
        prvShadow();
    #endif

    for( ; ; )
    {
        SINK( xTaskGetTickCount() );
        vTaskDelay( pdMS_TO_TICKS( 1000 ) );
    }
}

int main( void )
{
    SINK( xTaskCreate( prvFootprintTask, "footprint", configMINIMAL_STACK_SIZE * 4,
                       NULL, tskIDLE_PRIORITY + 1, NULL ) );
    vTaskStartScheduler();

    for( ; ; )
    {
    }
}
