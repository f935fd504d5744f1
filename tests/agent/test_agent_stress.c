/*
 * The MQTT agent under load, against a real Mosquitto on loopback under the
 * FreeRTOS POSIX simulator: STRESS_TASKS tasks publish STRESS_COUNT QoS 1
 * messages each on each of STRESS_CLIENTS clients (alternating between the
 * clients), while every client is subscribed at QoS 1 to its own wildcard
 * filter stress/<client>/#. Every message must come back exactly once, to the
 * right client, every publish must succeed, and the buffer pool must be full
 * at the end. A second, shorter round sends payloads of 0 to ~2000 bytes
 * (near the size of a pool buffer) and checks every byte.
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

/* Per publish: generous, a slow CI machine must not make it time out. */
#define PUBLISH_TIMEOUT         ( ( TickType_t ) 10000 )

/* Bound for the whole run (the harness's timeout is 600 s; a tick is about
 * 1.2 ms of wall time). */
#define RUN_BOUND               ( ( TickType_t ) 360000 )

/* The second round: messages per task and client, and the largest payload
 * (a received publish, topic included, must fit one pool buffer). */
#define BIG_COUNT               250
#define BIG_MAX_PAYLOAD         ( bufferpoolconfigBUFFER_SIZE - 64 )
_Static_assert( BIG_COUNT <= STRESS_COUNT, "ucSeen holds STRESS_COUNT messages per task and client" );

/* How long the last messages may take to arrive after the last publish. */
#define DRAIN_BOUND             ( ( TickType_t ) 10000 )

/*------------------------------------ receiving ------------------------------------*/

/* Written only by the agent task (the callbacks), read by main at the end. */
static uint8_t ucSeen[ STRESS_CLIENTS ][ STRESS_TASKS ][ STRESS_COUNT ];
static volatile int iReceived = 0;
static volatile int iDuplicates = 0;
static volatile int iMalformed = 0;
static volatile int iWrongClient = 0;

static volatile int iCorrupt = 0;

/* The round being run: messages per task and client, and whether payloads
 * are large (then built by prvFillPayload). */
static int iRoundCount = STRESS_COUNT;
static BaseType_t xRoundBig = pdFALSE;

/* The context of client c's subscription callback. */
static int iClientIndex[ STRESS_CLIENTS ];

/* Large payloads: "t<task> c<client> s<seq>|" and then filler bytes that
 * depend on (task, client, seq, position), BigLength( seq ) bytes in all. */
static uint32_t prvBigLength( int iTask, int iClient, int iSeq )
{
    return ( uint32_t ) ( ( ( uint32_t ) iSeq * 997U + ( uint32_t ) iTask * 131U + ( uint32_t ) iClient * 61U ) %
                          ( BIG_MAX_PAYLOAD + 1U ) );
}

static char prvBigByte( int iTask, int iClient, int iSeq, uint32_t ulAt )
{
    return ( char ) ( 'a' + ( ( ulAt * 7U + ( uint32_t ) iSeq * 3U + ( uint32_t ) iTask * 5U + ( uint32_t ) iClient ) % 26U ) );
}

/* Builds the payload; returns its length. */
static uint32_t prvBuildPayload( char * pcBuf, size_t xSize, int iTask, int iClient, int iSeq )
{
    int n = snprintf( pcBuf, xSize, "t%d c%d s%d|", iTask, iClient, iSeq );
    uint32_t ulLen;

    if( xRoundBig != pdTRUE )
    {
        return ( uint32_t ) n;
    }

    ulLen = prvBigLength( iTask, iClient, iSeq );

    if( ulLen < ( uint32_t ) n )
    {
        ulLen = ( uint32_t ) n; /* The header is always there. */
    }

    for( uint32_t i = ( uint32_t ) n; i < ulLen && i < xSize; i++ )
    {
        pcBuf[ i ] = prvBigByte( iTask, iClient, iSeq, i );
    }

    return ulLen;
}

/* pdTRUE if a received payload is exactly what prvBuildPayload makes. */
static BaseType_t prvPayloadIntact( const MQTTPublishData_t * pxData, int iTask, int iClient, int iSeq )
{
    static char cExpect[ BIG_MAX_PAYLOAD + 64 ]; /* Only the agent task uses it. */
    uint32_t ulLen = prvBuildPayload( cExpect, sizeof( cExpect ), iTask, iClient, iSeq );

    return ( ulLen == pxData->ulDataLength && memcmp( cExpect, pxData->pvData, ulLen ) == 0 ) ? pdTRUE : pdFALSE;
}

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

    if( ( sscanf( cPayload, "t%d c%d s%d|", &iTask, &iPayClient, &iSeq ) != 3 ) ||
        ( iTask < 0 ) || ( iTask >= STRESS_TASKS ) ||
        ( iPayClient < 0 ) || ( iPayClient >= STRESS_CLIENTS ) ||
        ( iSeq < 0 ) || ( iSeq >= iRoundCount ) ||
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

    if( prvPayloadIntact( pxData, iTask, iPayClient, iSeq ) != pdTRUE )
    {
        if( iCorrupt++ < 5 )
        {
            vTestNote( "client %d: payload of '%s' (%lu bytes) differs from what was sent", iClient, cPayload,
                       ( unsigned long ) pxData->ulDataLength );
        }
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

/* The connect callback: nothing should reach it (no lost connection, no
 * publish that the subscription callbacks did not take). */
static volatile int iConnectEvents = 0;

static BaseType_t prvConnectCallback( void * pvUserData,
                                      const MQTTAgentCallbackParams_t * const pxParams )
{
    vTestNote( "client %d: unexpected connect callback event %d", *( const int * ) pvUserData,
               ( int ) pxParams->xMQTTEvent );
    iConnectEvents++;
    return pdFALSE;
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

    static char cPayloads[ STRESS_TASKS ][ BIG_MAX_PAYLOAD + 64 ];
    char * pcPayload = cPayloads[ pxP->iTask ];

    for( int iSeq = 0; iSeq < iRoundCount; iSeq++ )
    {
        for( int k = 0; k < STRESS_CLIENTS; k++ )
        {
            /* Alternate between the clients, each task starting elsewhere. */
            int iClient = ( iSeq + pxP->iTask + k ) % STRESS_CLIENTS;
            char cTopic[ 32 ];

            snprintf( cTopic, sizeof( cTopic ), "stress/%d/%d", iClient, pxP->iTask );
            uint32_t ulLen = prvBuildPayload( pcPayload, BIG_MAX_PAYLOAD + 64, pxP->iTask, iClient, iSeq );

            TickType_t xStart = xTaskGetTickCount();
            MQTTAgentReturnCode_t xRc = xUtilPublish( xClients[ iClient ], cTopic, eMQTTQoS1, pcPayload,
                                                      ulLen, PUBLISH_TIMEOUT );
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

static void prvRound( int iCount, BaseType_t xBig )
{
    const int iTotal = STRESS_TASKS * STRESS_CLIENTS * iCount;

    memset( ucSeen, 0, sizeof( ucSeen ) );
    iReceived = 0;
    iDuplicates = 0;
    iMalformed = 0;
    iWrongClient = 0;
    iCorrupt = 0;
    iConnectEvents = 0;
    iPublishersDone = 0;
    iRoundCount = iCount;
    xRoundBig = xBig;

    for( int c = 0; c < STRESS_CLIENTS; c++ )
    {
        char cId[ 24 ];
        char cFilter[ 24 ];

        iClientIndex[ c ] = c;
        snprintf( cId, sizeof( cId ), "afr-stress-%d", c );
        snprintf( cFilter, sizeof( cFilter ), "stress/%d/#", c );
        TEST_ASSERT( MQTT_AGENT_Create( &xClients[ c ] ) == eMQTTAgentSuccess );
        TEST_ASSERT( xUtilConnect( xClients[ c ], usTestBrokerPort(), cId, prvConnectCallback, &iClientIndex[ c ],
                                   T_TIMEOUT ) == eMQTTAgentSuccess );
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
            vTestNote( "after %lu ticks: %d of %d received", ( unsigned long ) xWaited, iReceived, iTotal );
        }
    }

    TEST_ASSERT( iPublishersDone == STRESS_TASKS );
    TickType_t xPublishedTicks = xTaskGetTickCount() - xStartTicks;

    TEST_CHECK_MSG( xUtilWaitFor( &iReceived, iTotal, DRAIN_BOUND ) == pdTRUE,
                    "received %d of %d within %lu ticks after the last publish",
                    iReceived, iTotal, ( unsigned long ) DRAIN_BOUND );
    TickType_t xElapsed = xTaskGetTickCount() - xStartTicks;
    double dWall = prvWallSeconds() - dStartWall;

    vTestNote( "%d publishes and %d deliveries: %lu ticks (publishing %lu), %.2f s wall, %.0f messages/s",
               iTotal, iReceived, ( unsigned long ) xElapsed, ( unsigned long ) xPublishedTicks, dWall,
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

    TEST_CHECK_MSG( iReceived == iTotal, "received %d, expected %d", iReceived, iTotal );
    TEST_CHECK_MSG( iCorrupt == 0, "%d payloads corrupted", iCorrupt );
    TEST_CHECK_MSG( iDuplicates == 0, "%d duplicates", iDuplicates );
    TEST_CHECK_MSG( iMalformed == 0, "%d unexpected messages", iMalformed );
    TEST_CHECK_MSG( iWrongClient == 0, "%d messages reached the wrong client or topic", iWrongClient );
    TEST_CHECK_MSG( iConnectEvents == 0, "%d connect callback events", iConnectEvents );

    int iMissing = 0;

    for( int c = 0; c < STRESS_CLIENTS; c++ )
    {
        for( int t = 0; t < STRESS_TASKS; t++ )
        {
            for( int s = 0; s < iCount; s++ )
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

static void prvStress( void )
{
    prvRound( STRESS_COUNT, pdFALSE );
}

static void prvStressLargePayloads( void )
{
    prvRound( BIG_COUNT, pdTRUE );
}

static void prvBody( void )
{
    vTestRun( "stress_4_tasks_2_clients_qos1", prvStress );
    vTestRun( "stress_large_payloads", prvStressLargePayloads );
    vTestFinish();
}

int main( void )
{
    vUtilAgentTestMain( prvBody, RUN_BOUND + 60000 );
}
