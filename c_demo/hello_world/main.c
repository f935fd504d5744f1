/*
 * Hello world: an AFR v1 MQTT agent application, unchanged C, on the FreeRTOS
 * POSIX simulator. It connects, subscribes to an echo topic with a
 * subscription callback, publishes, receives its own messages, keeps one
 * received buffer past the callback and returns it later, then disconnects.
 *
 * The broker is localhost:$MQTT_BROKER_PORT (or $AFR_TEST_BROKER_PORT, which
 * scripts/demo.sh sets when it starts a private Mosquitto).
 *
 * Built with democonfigUSE_TLS (scripts/demo.sh --tls), it connects over
 * mutual TLS instead: to $AFR_TEST_TLS_PORT, the broker verified against the
 * CA in ca_pem.h, the client certificate and key taken by the library from the
 * project's aws_clientcredential_keys.h. Nothing else in the code changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_mqtt_agent.h"

#if defined( democonfigUSE_TLS ) && ( democonfigUSE_TLS == 1 )
    #include "ca_pem.h" /* AFR_TEST_CA_PEM: the CA that signed the broker's certificate. */
    #define demoCONNECT_FLAGS    mqttagentREQUIRE_TLS
    #define demoPORT_ENV         "AFR_TEST_TLS_PORT"
    #define demoTRUSTED_PEM      AFR_TEST_CA_PEM
#else
    #define demoCONNECT_FLAGS    0
    #define demoPORT_ENV         "AFR_TEST_BROKER_PORT"
#endif

#define ECHO_TOPIC       "afr/demo/echo"
#define MESSAGES         ( 5 )
#define KEEP_MESSAGE     ( 3 )
#define TIMEOUT_TICKS    pdMS_TO_TICKS( 5000 )

static volatile int iReceived = 0;
static MQTTBufferHandle_t xKeptBuffer = NULL;
static const char * pcKeptText = NULL;
static uint32_t ulKeptLength = 0;

static MQTTBool_t prvEchoCallback( void * pvContext,
                                   const MQTTPublishData_t * const pxPublish )
{
    ( void ) pvContext;
    int n = ++iReceived;

    printf( "received on '%.*s': '%.*s'\n",
            ( int ) pxPublish->usTopicLength, ( const char * ) pxPublish->pucTopic,
            ( int ) pxPublish->ulDataLength, ( const char * ) pxPublish->pvData );

    if( n == KEEP_MESSAGE )
    {
        /* Keep this message's buffer after the callback: return eMQTTTrue and
         * give it back later with MQTT_AGENT_ReturnBuffer. */
        xKeptBuffer = pxPublish->xBuffer;
        pcKeptText = ( const char * ) pxPublish->pvData;
        ulKeptLength = pxPublish->ulDataLength;
        return eMQTTTrue;
    }

    return eMQTTFalse;
}

static BaseType_t prvConnectCallback( void * pvUserData,
                                      const MQTTAgentCallbackParams_t * const pxParams )
{
    ( void ) pvUserData;

    if( pxParams->xMQTTEvent == eMQTTAgentDisconnect )
    {
        printf( "connection lost\n" );
    }

    return pdFALSE;
}

static void prvFail( const char * pcWhat, MQTTAgentReturnCode_t xResult )
{
    printf( "hello_world: %s failed (%d)\n", pcWhat, ( int ) xResult );
    exit( 1 );
}

static void prvHelloTask( void * pvParameters )
{
    const char * pcPort = getenv( "MQTT_BROKER_PORT" );
    MQTTAgentHandle_t xClient = NULL;
    MQTTAgentReturnCode_t xResult;

    ( void ) pvParameters;

    if( pcPort == NULL )
    {
        pcPort = getenv( demoPORT_ENV );
    }

    if( ( xResult = MQTT_AGENT_Create( &xClient ) ) != eMQTTAgentSuccess )
    {
        prvFail( "MQTT_AGENT_Create", xResult );
    }

    MQTTAgentConnectParams_t xConnect =
    {
        .pcURL              = "localhost",
        .xFlags             = demoCONNECT_FLAGS,
        .xURLIsIPAddress    = pdFALSE,
        .usPort             = ( uint16_t ) atoi( pcPort != NULL ? pcPort : "1883" ),
        .pucClientId        = ( const uint8_t * ) "afr-hello-world",
        .usClientIdLength   = ( uint16_t ) strlen( "afr-hello-world" ),
        .xSecuredConnection = pdFALSE,
        .pvUserData         = NULL,
        .pxCallback         = prvConnectCallback,
#ifdef demoTRUSTED_PEM
        .pcCertificate      = ( char * ) demoTRUSTED_PEM,
        .ulCertificateSize  = sizeof( demoTRUSTED_PEM ),
#else
        .pcCertificate      = NULL,
        .ulCertificateSize  = 0,
#endif
    };

    if( ( xResult = MQTT_AGENT_Connect( xClient, &xConnect, TIMEOUT_TICKS ) ) != eMQTTAgentSuccess )
    {
        prvFail( "MQTT_AGENT_Connect", xResult );
    }

    printf( "connected to localhost:%u%s\n", ( unsigned ) xConnect.usPort,
            ( demoCONNECT_FLAGS & mqttagentREQUIRE_TLS ) ? " over mutual TLS" : "" );

    MQTTAgentSubscribeParams_t xSubscribe =
    {
        .pucTopic                 = ( const uint8_t * ) ECHO_TOPIC,
        .usTopicLength            = ( uint16_t ) strlen( ECHO_TOPIC ),
        .xQoS                     = eMQTTQoS1,
        .pvPublishCallbackContext = NULL,
        .pxPublishCallback        = prvEchoCallback,
    };

    if( ( xResult = MQTT_AGENT_Subscribe( xClient, &xSubscribe, TIMEOUT_TICKS ) ) != eMQTTAgentSuccess )
    {
        prvFail( "MQTT_AGENT_Subscribe", xResult );
    }

    for( int i = 1; i <= MESSAGES; i++ )
    {
        char cMessage[ 64 ];
        snprintf( cMessage, sizeof( cMessage ), "hello world %d", i );
        MQTTAgentPublishParams_t xPublish =
        {
            .pucTopic      = ( const uint8_t * ) ECHO_TOPIC,
            .usTopicLength = ( uint16_t ) strlen( ECHO_TOPIC ),
            .xQoS          = eMQTTQoS1,
            .pvData        = cMessage,
            .ulDataLength  = ( uint32_t ) strlen( cMessage ),
        };

        if( ( xResult = MQTT_AGENT_Publish( xClient, &xPublish, TIMEOUT_TICKS ) ) != eMQTTAgentSuccess )
        {
            prvFail( "MQTT_AGENT_Publish", xResult );
        }
    }

    for( int t = 0; t < 5000 && iReceived < MESSAGES; t++ )
    {
        vTaskDelay( 1 );
    }

    if( iReceived != MESSAGES )
    {
        printf( "hello_world: received %d of %d messages\n", iReceived, MESSAGES );
        exit( 1 );
    }

    if( xKeptBuffer == NULL )
    {
        printf( "hello_world: no buffer was kept\n" );
        exit( 1 );
    }

    printf( "kept past its callback: '%.*s'; returning it now\n", ( int ) ulKeptLength, pcKeptText );

    if( ( xResult = MQTT_AGENT_ReturnBuffer( xClient, xKeptBuffer ) ) != eMQTTAgentSuccess )
    {
        prvFail( "MQTT_AGENT_ReturnBuffer", xResult );
    }

    if( ( xResult = MQTT_AGENT_Disconnect( xClient, TIMEOUT_TICKS ) ) != eMQTTAgentSuccess )
    {
        prvFail( "MQTT_AGENT_Disconnect", xResult );
    }

    if( ( xResult = MQTT_AGENT_Delete( xClient ) ) != eMQTTAgentSuccess )
    {
        prvFail( "MQTT_AGENT_Delete", xResult );
    }

    printf( "hello_world: done\n" );
    exit( 0 );
}

int main( void )
{
    BUFFERPOOL_Init();
    MQTT_AGENT_Init();
    xTaskCreate( prvHelloTask, "hello", configMINIMAL_STACK_SIZE * 2, NULL, tskIDLE_PRIORITY + 1, NULL );
    vTaskStartScheduler();
    return 1;
}
