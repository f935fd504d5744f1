/*
 * Multi-task demo: several FreeRTOS tasks publish and receive through one MQTT
 * client, and through several clients, concurrently. Each of the two clients
 * subscribes to its own topic tree; three publisher tasks publish to both
 * clients' trees through both clients; every message comes back to the
 * subscribing client's callback once.
 *
 * The broker is localhost:$MQTT_BROKER_PORT (or $AFR_TEST_BROKER_PORT, which
 * scripts/demo.sh sets when it starts a private Mosquitto).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_mqtt_agent.h"

#define CLIENTS          ( 2 )
#define PUBLISHERS       ( 3 )
#define MESSAGES         ( 50 )   /* per publisher, per client */
#define TIMEOUT_TICKS    pdMS_TO_TICKS( 10000 )

static MQTTAgentHandle_t xClients[ CLIENTS ];
static volatile int iReceived[ CLIENTS ];
static volatile int iPublishersDone = 0;

static MQTTBool_t prvOnMessage( void * pvContext,
                                const MQTTPublishData_t * const pxPublish )
{
    int iClient = ( int ) ( uintptr_t ) pvContext;

    ( void ) pxPublish;
    taskENTER_CRITICAL();
    iReceived[ iClient ]++;
    taskEXIT_CRITICAL();
    return eMQTTFalse;
}

static uint16_t prvPort( void )
{
    const char * pcPort = getenv( "MQTT_BROKER_PORT" );

    if( pcPort == NULL )
    {
        pcPort = getenv( "AFR_TEST_BROKER_PORT" );
    }

    return ( uint16_t ) atoi( pcPort != NULL ? pcPort : "1883" );
}

static void prvPublisher( void * pvParameters )
{
    int iPublisher = ( int ) ( uintptr_t ) pvParameters;

    for( int i = 0; i < MESSAGES; i++ )
    {
        for( int c = 0; c < CLIENTS; c++ )
        {
            char cTopic[ 48 ];
            char cMessage[ 48 ];

            /* Through client c, to the tree of the other client, and back. */
            snprintf( cTopic, sizeof( cTopic ), "afr/multi/%d/from-%d", ( c + i ) % CLIENTS, iPublisher );
            snprintf( cMessage, sizeof( cMessage ), "publisher %d message %d", iPublisher, i );
            MQTTAgentPublishParams_t xPublish =
            {
                .pucTopic      = ( const uint8_t * ) cTopic,
                .usTopicLength = ( uint16_t ) strlen( cTopic ),
                .xQoS          = eMQTTQoS1,
                .pvData        = cMessage,
                .ulDataLength  = ( uint32_t ) strlen( cMessage ),
            };

            if( MQTT_AGENT_Publish( xClients[ c ], &xPublish, TIMEOUT_TICKS ) != eMQTTAgentSuccess )
            {
                printf( "multitask: publish by task %d failed\n", iPublisher );
                exit( 1 );
            }
        }
    }

    taskENTER_CRITICAL();
    iPublishersDone++;
    taskEXIT_CRITICAL();
    vTaskDelete( NULL );
}

static void prvMain( void * pvParameters )
{
    ( void ) pvParameters;

    for( int c = 0; c < CLIENTS; c++ )
    {
        char cId[ 32 ];
        char cFilter[ 32 ];

        snprintf( cId, sizeof( cId ), "afr-multitask-%d", c );
        snprintf( cFilter, sizeof( cFilter ), "afr/multi/%d/#", c );

        MQTTAgentConnectParams_t xConnect =
        {
            .pcURL            = "localhost",
            .usPort           = prvPort(),
            .pucClientId      = ( const uint8_t * ) cId,
            .usClientIdLength = ( uint16_t ) strlen( cId ),
        };
        MQTTAgentSubscribeParams_t xSubscribe =
        {
            .pucTopic                 = ( const uint8_t * ) cFilter,
            .usTopicLength            = ( uint16_t ) strlen( cFilter ),
            .xQoS                     = eMQTTQoS1,
            .pvPublishCallbackContext = ( void * ) ( uintptr_t ) c,
            .pxPublishCallback        = prvOnMessage,
        };

        if( ( MQTT_AGENT_Create( &xClients[ c ] ) != eMQTTAgentSuccess ) ||
            ( MQTT_AGENT_Connect( xClients[ c ], &xConnect, TIMEOUT_TICKS ) != eMQTTAgentSuccess ) ||
            ( MQTT_AGENT_Subscribe( xClients[ c ], &xSubscribe, TIMEOUT_TICKS ) != eMQTTAgentSuccess ) )
        {
            printf( "multitask: setting up client %d failed\n", c );
            exit( 1 );
        }
    }

    TickType_t xStart = xTaskGetTickCount();

    for( uintptr_t p = 0; p < PUBLISHERS; p++ )
    {
        xTaskCreate( prvPublisher, "publisher", configMINIMAL_STACK_SIZE, ( void * ) p, tskIDLE_PRIORITY + 1, NULL );
    }

    const int iExpected = PUBLISHERS * MESSAGES;

    for( int t = 0; t < 60000; t++ )
    {
        if( ( iPublishersDone == PUBLISHERS ) && ( iReceived[ 0 ] >= iExpected ) && ( iReceived[ 1 ] >= iExpected ) )
        {
            break;
        }

        vTaskDelay( 1 );
    }

    printf( "multitask: %d publishers x %d clients x %d messages in %lu ticks; client 0 received %d, client 1 received %d (expected %d each)\n",
            PUBLISHERS, CLIENTS, MESSAGES, ( unsigned long ) ( xTaskGetTickCount() - xStart ),
            iReceived[ 0 ], iReceived[ 1 ], iExpected );

    for( int c = 0; c < CLIENTS; c++ )
    {
        MQTT_AGENT_Disconnect( xClients[ c ], TIMEOUT_TICKS );
        MQTT_AGENT_Delete( xClients[ c ] );
    }

    exit( ( iReceived[ 0 ] == iExpected && iReceived[ 1 ] == iExpected ) ? 0 : 1 );
}

int main( void )
{
    BUFFERPOOL_Init();
    MQTT_AGENT_Init();
    xTaskCreate( prvMain, "main", configMINIMAL_STACK_SIZE * 2, NULL, tskIDLE_PRIORITY + 1, NULL );
    vTaskStartScheduler();
    return 1;
}
