/*
 * Stress run on the board: several tasks, two clients, QoS 0 and 1 at once.
 * Four publisher tasks (1.5 KB stacks, small as an application's: a publish
 * takes 780 bytes of its caller's stack since the agent core, issue #13) publish
 * through both clients into each other's topic trees; each message comes back
 * to the subscribing client's callback once. The callbacks keep every fifth
 * buffer past the callback and a returner task gives those back later
 * (MQTT_AGENT_ReturnBuffer), so buffers are owned by the application while
 * traffic goes on. At the end: every QoS 1 message arrived exactly once,
 * nothing was lost, every pool buffer is free (all of them can be taken), the
 * heap is back where it was after the clients were made, and every task had
 * stack to spare (the board's overflow check is on).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "queue.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "aws_mqtt_agent.h"

#define CLIENTS          ( 2 )
#define PUBLISHERS       ( 4 )
#define MESSAGES         ( 40 ) /* per publisher and client */
#define KEEP_EVERY       ( 5 )

/* Buffers the application may keep at once: the kept queue's length, plus the
 * one in the returner's hand. A received publish that finds no free pool
 * buffer is dropped and still acknowledged (the documented policy, README
 * "Limits"), so an exact count of QoS 1 arrivals holds only while the pool
 * cannot run dry: every publisher's packet and every client's receive can
 * hold a buffer besides these. */
#define KEPT_QUEUE_LENGTH    ( bufferpoolconfigNUM_BUFFERS - PUBLISHERS - CLIENTS - 1 )
#if KEPT_QUEUE_LENGTH < 1
    #error "stress: the pool is too small to keep any buffer without drops"
#endif
#define TIMEOUT_TICKS    pdMS_TO_TICKS( 10000 )

typedef struct
{
    MQTTAgentHandle_t xClient;
    MQTTBufferHandle_t xBuffer;
} Kept_t;

static MQTTAgentHandle_t xClients[ CLIENTS ];
static volatile int iReceived[ CLIENTS ][ PUBLISHERS ];
static volatile int iQoS0Received = 0;
static volatile int iPublishersDone = 0;
static volatile int iDuplicates = 0;
static uint8_t ucSeen[ CLIENTS ][ PUBLISHERS ][ MESSAGES ];
static QueueHandle_t xKeptQueue;
static volatile UBaseType_t uxPublisherStackLeft = ~( UBaseType_t ) 0;

static void prvFail( const char * pcWhat,
                     int iValue )
{
    printf( "stress: FAIL: %s (%d)\n", pcWhat, iValue );
    exit( 1 );
}

static MQTTBool_t prvOnMessage( void * pvContext,
                                const MQTTPublishData_t * const pxPublish )
{
    int iClient = ( int ) ( uintptr_t ) pvContext;
    int iPublisher = -1, iMessage = -1;
    char cText[ 40 ];
    size_t xLength = pxPublish->ulDataLength < sizeof( cText ) - 1 ? pxPublish->ulDataLength : sizeof( cText ) - 1;

    memcpy( cText, pxPublish->pvData, xLength );
    cText[ xLength ] = '\0';

    if( strncmp( cText, "qos0", 4 ) == 0 )
    {
        iQoS0Received++;
        return eMQTTFalse;
    }

    if( ( sscanf( cText, "p%d m%d", &iPublisher, &iMessage ) != 2 ) || ( iPublisher < 0 ) || ( iPublisher >= PUBLISHERS ) ||
        ( iMessage < 0 ) || ( iMessage >= MESSAGES ) )
    {
        prvFail( "a message that was never sent", ( int ) xLength );
    }

    /* The agent task runs the callbacks: no lock needed among them. */
    if( ucSeen[ iClient ][ iPublisher ][ iMessage ]++ != 0 )
    {
        iDuplicates++;
    }

    iReceived[ iClient ][ iPublisher ]++;

    if( ( iMessage % KEEP_EVERY ) == 0 )
    {
        Kept_t xKept = { xClients[ iClient ], pxPublish->xBuffer };

        if( xQueueSend( xKeptQueue, &xKept, 0 ) == pdPASS )
        {
            return eMQTTTrue; /* The returner task owns the buffer now. */
        }
    }

    return eMQTTFalse;
}

static void prvReturner( void * pvParameters )
{
    Kept_t xKept;

    ( void ) pvParameters;

    for( ; ; )
    {
        if( xQueueReceive( xKeptQueue, &xKept, portMAX_DELAY ) == pdPASS )
        {
            vTaskDelay( 3 ); /* Hold it a while, as an application would. */

            if( MQTT_AGENT_ReturnBuffer( xKept.xClient, xKept.xBuffer ) != eMQTTAgentSuccess )
            {
                prvFail( "MQTT_AGENT_ReturnBuffer", 0 );
            }
        }
    }
}

static void prvPublisher( void * pvParameters )
{
    int iPublisher = ( int ) ( uintptr_t ) pvParameters;
    char cTopic[ 40 ];
    char cMessage[ 24 ];

    for( int i = 0; i < MESSAGES; i++ )
    {
        for( int c = 0; c < CLIENTS; c++ )
        {
            /* Through client c into the other client's tree, and back. */
            snprintf( cTopic, sizeof( cTopic ), "afr/stress/%d/from-%d", ( c + 1 ) % CLIENTS, iPublisher );
            snprintf( cMessage, sizeof( cMessage ), "p%d m%d", iPublisher, i );
            MQTTAgentPublishParams_t xPublish =
            {
                .pucTopic      = ( const uint8_t * ) cTopic,
                .usTopicLength = ( uint16_t ) strlen( cTopic ),
                .xQoS          = eMQTTQoS1,
                .pvData        = cMessage,
                .ulDataLength  = ( uint32_t ) strlen( cMessage ),
            };
            MQTTAgentReturnCode_t xResult = MQTT_AGENT_Publish( xClients[ c ], &xPublish, TIMEOUT_TICKS );

            if( xResult != eMQTTAgentSuccess )
            {
                prvFail( "a QoS 1 publish", ( int ) xResult );
            }

            /* And a QoS 0 one: no acknowledgement, may be dropped, never twice. */
            xPublish.xQoS = eMQTTQoS0;
            xPublish.pvData = "qos0";
            xPublish.ulDataLength = 4;
            ( void ) MQTT_AGENT_Publish( xClients[ c ], &xPublish, TIMEOUT_TICKS );
        }
    }

    taskENTER_CRITICAL();
    UBaseType_t uxLeft = uxTaskGetStackHighWaterMark( NULL );
    uxPublisherStackLeft = uxLeft < uxPublisherStackLeft ? uxLeft : uxPublisherStackLeft;
    iPublishersDone++;
    taskEXIT_CRITICAL();
    vTaskDelete( NULL );
}

static void prvMain( void * pvParameters )
{
    const int iExpected = PUBLISHERS * MESSAGES;
    size_t xHeapAfterSetUp;
    uint8_t * pucBuffers[ bufferpoolconfigNUM_BUFFERS ];
    const char * pcPort = getenv( "AFR_TEST_BROKER_PORT" );

    ( void ) pvParameters;
    xKeptQueue = xQueueCreate( KEPT_QUEUE_LENGTH, sizeof( Kept_t ) );
    xTaskCreate( prvReturner, "returner", configMINIMAL_STACK_SIZE, NULL, tskIDLE_PRIORITY + 2, NULL );

    for( int c = 0; c < CLIENTS; c++ )
    {
        char cId[ 24 ];
        char cFilter[ 24 ];

        snprintf( cId, sizeof( cId ), "afr-qemu-stress-%d", c );
        snprintf( cFilter, sizeof( cFilter ), "afr/stress/%d/#", c );
        MQTTAgentConnectParams_t xConnect =
        {
            .pcURL            = "localhost",
            .usPort           = ( uint16_t ) atoi( pcPort != NULL ? pcPort : "1883" ),
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
            prvFail( "setting up a client", c );
        }
    }

    xHeapAfterSetUp = xPortGetFreeHeapSize();
    TickType_t xStart = xTaskGetTickCount();

    for( uintptr_t p = 0; p < PUBLISHERS; p++ )
    {
        xTaskCreate( prvPublisher, "publisher", configMINIMAL_STACK_SIZE * 3 / 2, ( void * ) p, tskIDLE_PRIORITY + 1, NULL );
    }

    for( int t = 0; t < 60000 && iPublishersDone < PUBLISHERS; t++ )
    {
        vTaskDelay( 1 );
    }

    /* Every QoS 1 message: the broker has acknowledged them all; wait until
     * they came back (and the kept buffers went home). */
    for( int t = 0; t < 10000; t++ )
    {
        int iAll = 0;

        for( int c = 0; c < CLIENTS; c++ )
        {
            for( int p = 0; p < PUBLISHERS; p++ )
            {
                iAll += iReceived[ c ][ p ];
            }
        }

        if( ( iAll >= CLIENTS * iExpected ) && ( uxQueueMessagesWaiting( xKeptQueue ) == 0 ) )
        {
            break;
        }

        vTaskDelay( 1 );
    }

    vTaskDelay( pdMS_TO_TICKS( 200 ) ); /* A kept buffer being returned right now. */
    printf( "stress: %d tasks x %d clients x %d QoS 1 messages (and as many QoS 0) in %lu ticks; %d QoS 0 arrived\n",
            PUBLISHERS, CLIENTS, MESSAGES, ( unsigned long ) ( xTaskGetTickCount() - xStart ), iQoS0Received );

    for( int c = 0; c < CLIENTS; c++ )
    {
        for( int p = 0; p < PUBLISHERS; p++ )
        {
            if( iReceived[ c ][ p ] != MESSAGES )
            {
                printf( "stress: client %d got %d of publisher %d's %d messages\n", c, iReceived[ c ][ p ], p, MESSAGES );
                prvFail( "QoS 1 messages lost", c );
            }
        }
    }

    if( iDuplicates != 0 )
    {
        prvFail( "QoS 1 messages delivered twice", iDuplicates );
    }

    if( iQoS0Received > CLIENTS * iExpected )
    {
        prvFail( "more QoS 0 messages than sent", iQoS0Received );
    }

    if( xPortGetFreeHeapSize() != xHeapAfterSetUp )
    {
        printf( "stress: heap free %u after the run, %u before\n", ( unsigned ) xPortGetFreeHeapSize(), ( unsigned ) xHeapAfterSetUp );
        prvFail( "the heap did not come back", 0 );
    }

    for( int c = 0; c < CLIENTS; c++ )
    {
        if( ( MQTT_AGENT_Disconnect( xClients[ c ], TIMEOUT_TICKS ) != eMQTTAgentSuccess ) ||
            ( MQTT_AGENT_Delete( xClients[ c ] ) != eMQTTAgentSuccess ) )
        {
            prvFail( "disconnect and delete", c );
        }
    }

    for( int i = 0; i < bufferpoolconfigNUM_BUFFERS; i++ )
    {
        uint32_t ulLength = bufferpoolconfigBUFFER_SIZE;

        if( ( pucBuffers[ i ] = BUFFERPOOL_GetFreeBuffer( &ulLength ) ) == NULL )
        {
            prvFail( "a pool buffer was not free at the end", i );
        }
    }

    for( int i = 0; i < bufferpoolconfigNUM_BUFFERS; i++ )
    {
        BUFFERPOOL_ReturnBuffer( pucBuffers[ i ] );
    }

    printf( "stress: every QoS 1 message once, all %d pool buffers free, heap back; publishers' stacks had %lu bytes to spare\n",
            bufferpoolconfigNUM_BUFFERS, ( unsigned long ) uxPublisherStackLeft * 4UL );
    exit( 0 );
}

int main( void )
{
    BUFFERPOOL_Init();
    MQTT_AGENT_Init();
    xTaskCreate( prvMain, "main", configMINIMAL_STACK_SIZE * 2, NULL, tskIDLE_PRIORITY + 1, NULL );
    vTaskStartScheduler();
    return 1;
}
