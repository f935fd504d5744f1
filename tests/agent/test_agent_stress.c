/*
 * The MQTT agent under load, against a real Mosquitto on loopback under the
 * FreeRTOS POSIX simulator: STRESS_TASKS tasks publish STRESS_COUNT QoS 1
 * messages each on each of STRESS_CLIENTS clients (alternating between the
 * clients), while every client is subscribed at QoS 1 to its own wildcard
 * filter stress/<client>/#. Every message must come back exactly once, to the
 * right client, every publish must succeed, and the buffer pool must be full
 * at the end.
 *
 * Run by tests/tools/run_with_broker.py.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "aws_mqtt_agent.h"
#include "aws_mqtt_agent_config.h"
#include "aws_mqtt_agent_config_defaults.h"

#include "agent_util.h"
#include "test_support.h"

#define NUM_BUFFERS             ( bufferpoolconfigNUM_BUFFERS )

#define STRESS_TASKS            4
#define STRESS_CLIENTS          2
#ifndef STRESS_COUNT
    #define STRESS_COUNT        1000 /* Per task and client. */
#endif
#define STRESS_TOTAL            ( STRESS_TASKS * STRESS_CLIENTS * STRESS_COUNT )

/* Per publish: generous, a slow CI machine must not make it time out. */
#define PUBLISH_TIMEOUT         ( ( TickType_t ) 10000 )

/* Bound for the whole run (the harness's timeout is 600 s; a tick is about
 * 1.2 ms of wall time). */
#define RUN_BOUND               ( ( TickType_t ) 360000 )

/* How long the last messages may take to arrive after the last publish. */
#define DRAIN_BOUND             ( ( TickType_t ) 10000 )

/*------------------------------------ receiving ------------------------------------*/

/* Written only by the agent task (the callbacks), read by main at the end. */
static uint8_t ucSeen[ STRESS_CLIENTS ][ STRESS_TASKS ][ STRESS_COUNT ];
static volatile int iReceived = 0;
static volatile int iDuplicates = 0;
static volatile int iMalformed = 0;
static volatile int iWrongClient = 0;

/* The context of client c's subscription callback. */
static int iClientIndex[ STRESS_CLIENTS ];

static MQTTBool_t prvReceive( void * pvCtx,
                              const MQTTPublishData_t * const pxData )
{
    int iClient = *( const int * ) pvCtx;
    char cPayload[ 32 ];
    char cTopic[ 32 ];
    char cExpectTopic[ 32 ];
    int iTask = -1, iPayClient = -1, iSeq = -1;

    snprintf( cPayload, sizeof( cPayload ), "%.*s", ( int ) pxData->ulDataLength, ( const char * ) pxData->pvData );
    snprintf( cTopic, sizeof( cTopic ), "%.*s", ( int ) pxData->usTopicLength, ( const char * ) pxData->pucTopic );

    if( ( sscanf( cPayload, "t%d c%d s%d", &iTask, &iPayClient, &iSeq ) != 3 ) ||
        ( iTask < 0 ) || ( iTask >= STRESS_TASKS ) ||
        ( iPayClient < 0 ) || ( iPayClient >= STRESS_CLIENTS ) ||
        ( iSeq < 0 ) || ( iSeq >= STRESS_COUNT ) ||
        ( pxData->xQos != eMQTTQoS1 ) )
    {
        if( iMalformed++ < 5 )
        {
            vTestNote( "client %d: unexpected message '%s' on '%s' (QoS %d)", iClient, cPayload, cTopic, ( int ) pxData->xQos );
        }

        return eMQTTFalse;
    }

    snprintf( cExpectTopic, sizeof( cExpectTopic ), "stress/%d/%d", iPayClient, iTask );

    if( ( iPayClient != iClient ) || ( strcmp( cTopic, cExpectTopic ) != 0 ) )
    {
        if( iWrongClient++ < 5 )
        {
            vTestNote( "client %d got '%s' on '%s'", iClient, cPayload, cTopic );
        }

        return eMQTTFalse;
    }

    if( ucSeen[ iPayClient ][ iTask ][ iSeq ]++ != 0 )
    {
        if( iDuplicates++ < 5 )
        {
            vTestNote( "duplicate: '%s'", cPayload );
        }
    }

    iReceived++;
    return eMQTTFalse;
}

/*------------------------------------ publishing -----------------------------------*/

static MQTTAgentHandle_t xClients[ STRESS_CLIENTS ];

typedef struct
{
    int iTask;
    int iFailures;
    MQTTAgentReturnCode_t xFirstFailure;
    int iFirstFailureSeq;
    TickType_t xSlowest;
} Publisher_t;

static Publisher_t xPublishers[ STRESS_TASKS ];
static volatile int iPublishersDone = 0;

static void prvPublisherTask( void * pvParam )
{
    Publisher_t * pxP = ( Publisher_t * ) pvParam;

    for( int iSeq = 0; iSeq < STRESS_COUNT; iSeq++ )
    {
        for( int k = 0; k < STRESS_CLIENTS; k++ )
        {
            /* Alternate between the clients, each task starting elsewhere. */
            int iClient = ( iSeq + pxP->iTask + k ) % STRESS_CLIENTS;
            char cTopic[ 32 ];
            char cPayload[ 32 ];

            snprintf( cTopic, sizeof( cTopic ), "stress/%d/%d", iClient, pxP->iTask );
            snprintf( cPayload, sizeof( cPayload ), "t%d c%d s%d", pxP->iTask, iClient, iSeq );

            TickType_t xStart = xTaskGetTickCount();
            MQTTAgentReturnCode_t xRc = xUtilPublish( xClients[ iClient ], cTopic, eMQTTQoS1, cPayload,
                                                      ( uint32_t ) strlen( cPayload ), PUBLISH_TIMEOUT );
            TickType_t xTook = xTaskGetTickCount() - xStart;

            if( xTook > pxP->xSlowest )
            {
                pxP->xSlowest = xTook;
            }

            if( xRc != eMQTTAgentSuccess )
            {
                if( pxP->iFailures++ == 0 )
                {
                    pxP->xFirstFailure = xRc;
                    pxP->iFirstFailureSeq = iSeq;
                }
            }
        }
    }

    taskENTER_CRITICAL();
    iPublishersDone++;
    taskEXIT_CRITICAL();
    vTaskDelete( NULL );
}

/*--------------------------------------- case --------------------------------------*/

static double prvWallSeconds( void )
{
    struct timespec xTs;

    clock_gettime( CLOCK_MONOTONIC, &xTs );
    return ( double ) xTs.tv_sec + ( double ) xTs.tv_nsec / 1e9;
}

static void prvStress( void )
{
    memset( ucSeen, 0, sizeof( ucSeen ) );

    for( int c = 0; c < STRESS_CLIENTS; c++ )
    {
        char cId[ 24 ];
        char cFilter[ 24 ];

        iClientIndex[ c ] = c;
        snprintf( cId, sizeof( cId ), "afr-stress-%d", c );
        snprintf( cFilter, sizeof( cFilter ), "stress/%d/#", c );
        TEST_ASSERT( MQTT_AGENT_Create( &xClients[ c ] ) == eMQTTAgentSuccess );
        TEST_ASSERT( xUtilConnect( xClients[ c ], usTestBrokerPort(), cId, NULL, NULL, T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_ASSERT( xUtilSubscribe( xClients[ c ], cFilter, eMQTTQoS1, prvReceive, &iClientIndex[ c ] ) == eMQTTAgentSuccess );
    }

    TickType_t xStartTicks = xTaskGetTickCount();
    double dStartWall = prvWallSeconds();

    for( int t = 0; t < STRESS_TASKS; t++ )
    {
        memset( &xPublishers[ t ], 0, sizeof( xPublishers[ t ] ) );
        xPublishers[ t ].iTask = t;
        TEST_ASSERT( xTaskCreate( prvPublisherTask, "pub", configMINIMAL_STACK_SIZE * 2, &xPublishers[ t ],
                                  tskIDLE_PRIORITY + 1, NULL ) == pdPASS );
    }

    /* Progress every ~10 s of ticks, so that a slow run shows where it is. */
    TickType_t xWaited = 0;

    while( iPublishersDone < STRESS_TASKS && xWaited < RUN_BOUND )
    {
        ( void ) xUtilWaitFor( &iPublishersDone, STRESS_TASKS, 10000 );
        xWaited = xTaskGetTickCount() - xStartTicks;

        if( iPublishersDone < STRESS_TASKS )
        {
            vTestNote( "after %lu ticks: %d of %d received", ( unsigned long ) xWaited, iReceived, STRESS_TOTAL );
        }
    }

    TEST_ASSERT( iPublishersDone == STRESS_TASKS );
    TickType_t xPublishedTicks = xTaskGetTickCount() - xStartTicks;

    TEST_CHECK_MSG( xUtilWaitFor( &iReceived, STRESS_TOTAL, DRAIN_BOUND ) == pdTRUE,
                    "received %d of %d within %lu ticks after the last publish",
                    iReceived, STRESS_TOTAL, ( unsigned long ) DRAIN_BOUND );
    TickType_t xElapsed = xTaskGetTickCount() - xStartTicks;
    double dWall = prvWallSeconds() - dStartWall;

    vTestNote( "%d publishes and %d deliveries: %lu ticks (publishing %lu), %.2f s wall, %.0f messages/s",
               STRESS_TOTAL, iReceived, ( unsigned long ) xElapsed, ( unsigned long ) xPublishedTicks, dWall,
               dWall > 0 ? ( double ) iReceived / dWall : 0.0 );

    /* Nothing more comes in (a late duplicate would show here). */
    vTaskDelay( 500 );

    for( int t = 0; t < STRESS_TASKS; t++ )
    {
        vTestNote( "task %d: slowest publish %lu ticks", t, ( unsigned long ) xPublishers[ t ].xSlowest );
        TEST_CHECK_MSG( xPublishers[ t ].iFailures == 0, "task %d: %d publishes failed, the first (seq %d) with %d",
                        t, xPublishers[ t ].iFailures, xPublishers[ t ].iFirstFailureSeq,
                        ( int ) xPublishers[ t ].xFirstFailure );
    }

    TEST_CHECK_MSG( iReceived == STRESS_TOTAL, "received %d, expected %d", iReceived, STRESS_TOTAL );
    TEST_CHECK_MSG( iDuplicates == 0, "%d duplicates", iDuplicates );
    TEST_CHECK_MSG( iMalformed == 0, "%d unexpected messages", iMalformed );
    TEST_CHECK_MSG( iWrongClient == 0, "%d messages reached the wrong client or topic", iWrongClient );

    int iMissing = 0;

    for( int c = 0; c < STRESS_CLIENTS; c++ )
    {
        for( int t = 0; t < STRESS_TASKS; t++ )
        {
            for( int s = 0; s < STRESS_COUNT; s++ )
            {
                if( ucSeen[ c ][ t ][ s ] == 0 )
                {
                    if( iMissing++ < 5 )
                    {
                        vTestNote( "missing: client %d task %d seq %d", c, t, s );
                    }
                }
                else if( ucSeen[ c ][ t ][ s ] > 1 )
                {
                    vTestNote( "client %d task %d seq %d received %d times", c, t, s, ucSeen[ c ][ t ][ s ] );
                }
            }
        }
    }

    TEST_CHECK_MSG( iMissing == 0, "%d messages missing", iMissing );

    for( int c = 0; c < STRESS_CLIENTS; c++ )
    {
        TEST_CHECK( MQTT_AGENT_Disconnect( xClients[ c ], T_TIMEOUT ) == eMQTTAgentSuccess );
        TEST_CHECK( MQTT_AGENT_Delete( xClients[ c ] ) == eMQTTAgentSuccess );
    }

    int iFree = iUtilPoolFree();
    TEST_CHECK_MSG( iFree == NUM_BUFFERS, "%d of %d pool buffers free", iFree, NUM_BUFFERS );
}

static void prvBody( void )
{
    vTestRun( "stress_4_tasks_2_clients_qos1", prvStress );
    vTestFinish();
}

int main( void )
{
    BUFFERPOOL_Init();

    if( MQTT_AGENT_Init() != pdPASS )
    {
        printf( "MQTT_AGENT_Init failed\n" );
        return 1;
    }

    vTestMain( prvBody, RUN_BOUND + 60000 );
}
