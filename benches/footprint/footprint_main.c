/*
 * The footprint images' main(), compiled at four levels:
 *
 *   FOOTPRINT_LEVEL 0  no library call: the baseline (kernel, startup, stub
 *                      sockets, one task and the scheduler)
 *   FOOTPRINT_LEVEL 1  + every MQTT_AGENT_* and BUFFERPOOL_* function
 *   FOOTPRINT_LEVEL 2  + every SHADOW_* function
 *   FOOTPRINT_LEVEL 3  + a TLS connect (mqttagentREQUIRE_TLS, a pcCertificate,
 *                      the AWS IoT ALPN on 443) and the TLS API
 *                      (MQTT_AGENT_SetClientCredentials, MQTT_AGENT_GetTLSError);
 *                      linked with a library built with the `tls` feature
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
#if FOOTPRINT_LEVEL >= 3
    #include "aws_mqtt_agent_tls.h"
#endif

#ifndef FOOTPRINT_LEVEL
    #error "FOOTPRINT_LEVEL must be 0, 1, 2 or 3"
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

#if FOOTPRINT_LEVEL >= 3

/* Not real credentials: the image never runs a handshake. The text only has
 * to look like PEM; what the linker keeps does not depend on it. */
static const char cServerRootCA[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBfootprintonly\n"
    "-----END CERTIFICATE-----\n";
static const char cClientCertificate[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBfootprintonly\n"
    "-----END CERTIFICATE-----\n";
static const char cClientKey[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIBfootprintonly\n"
    "-----END PRIVATE KEY-----\n";

static void prvTls( void )
{
    MQTTAgentHandle_t xHandle = NULL;
    MQTTAgentTLSError_t xError = eMQTTAgentTLSNoError;

    SINK( MQTT_AGENT_SetClientCredentials( cClientCertificate, sizeof( cClientCertificate ),
                                           cClientKey, sizeof( cClientKey ) ) );
    SINK( MQTT_AGENT_Create( &xHandle ) );

    MQTTAgentConnectParams_t xConnect =
    {
        .pcURL             = "footprint.iot.us-east-1.amazonaws.com",
        .xFlags            = mqttagentREQUIRE_TLS | mqttagentUSE_AWS_IOT_ALPN_443,
        .usPort            = 443,
        .pucClientId       = ucClientId,
        .usClientIdLength  = ( uint16_t ) ( sizeof( ucClientId ) - 1 ),
        .pcCertificate     = ( char * ) cServerRootCA,
        .ulCertificateSize = sizeof( cServerRootCA ),
    };
    SINK( MQTT_AGENT_Connect( xHandle, &xConnect, pdMS_TO_TICKS( 5000 ) ) );
    SINK( MQTT_AGENT_GetTLSError( xHandle, &xError ) );
    SINK( xError );
    /* Publishing over the session is the level-1 code path; the TLS send and
     * receive paths are reached through the connection the connect sets up. */
    SINK( MQTT_AGENT_Disconnect( xHandle, pdMS_TO_TICKS( 1000 ) ) );
    SINK( MQTT_AGENT_Delete( xHandle ) );
}
#endif /* FOOTPRINT_LEVEL >= 3 */

static void prvFootprintTask( void * pvParameters )
{
    ( void ) pvParameters;

    #if FOOTPRINT_LEVEL >= 1
        prvAgentAndPool();
    #endif
    #if FOOTPRINT_LEVEL >= 2
        prvShadow();
    #endif
    #if FOOTPRINT_LEVEL >= 3
        prvTls();
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
