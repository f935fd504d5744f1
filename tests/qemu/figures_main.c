/*
 * Figures from the board (scripts/qemu-figures.sh runs this under QEMU with
 * -icount shift=0, next to Mosquitto with its TLS listeners and the test
 * shadow service):
 *  - the stack each AFR API call takes from its caller: every call runs in a
 *    fresh task whose stack the kernel filled with a known byte, and the part
 *    it touched (high-water mark) minus an empty task's is the call's need;
 *  - the agent task's stack high-water mark after plain MQTT traffic and
 *    after a TLS handshake (TLS 1.3, RSA-2048 server and client certificates);
 *  - instructions per QoS 1 publish round trip (MQTT_AGENT_Publish returning
 *    after the PUBACK), all tasks but idle, and of the agent task alone; and of
 *    the TLS handshake in the agent task: timer 0 counts × 40 (one count is
 *    40 ns of virtual time, and -icount shift=0 runs one instruction per ns);
 *  - the heap's peak use (heap_4's minimum ever free) after each phase.
 * Each figure is a "board-figure: <name> <value>" line. Exits non-zero if any
 * call fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_mqtt_agent.h"
#include "aws_shadow.h"
#include "aws_mqtt_agent_config.h" /* mqttconfigMQTT_TASK_STACK_DEPTH */

#include "board.h"
#include "ca_pem.h" /* AFR_TEST_CA_PEM */

#define TIMEOUT_TICKS         pdMS_TO_TICKS( 20000 )
#define PROBE_STACK_WORDS     ( 2048 )
#define ROUND_TRIPS           ( 100 )
#define THING                 "qemu-figures"
#define TOPIC                 "afr/qemu/figures"

static MQTTAgentHandle_t xClient = NULL;
static ShadowClientHandle_t xShadow = NULL;
static TaskHandle_t xMainTask = NULL;
static uint16_t usPlainPort = 1883, usTlsPort = 8883;
static uint64_t ullAgentCountsPlain = 0;

static void prvFail( const char * pcWhat,
                     int iResult )
{
    printf( "figures: %s failed (%d)\n", pcWhat, iResult );
    exit( 1 );
}

static uint16_t prvEnvPort( const char * pcName,
                            uint16_t usDefault )
{
    const char * pcValue = getenv( pcName );

    return ( pcValue != NULL ) ? ( uint16_t ) atoi( pcValue ) : usDefault;
}

/* ---- One API call in a fresh task ------------------------------------------- */

typedef int ( * Call_t )( void );

typedef struct
{
    Call_t xCall;
    int iResult;
    UBaseType_t uxUnused; /* Words of stack never touched. */
} Probe_t;

static void prvProbeTask( void * pvParameters )
{
    Probe_t * pxProbe = ( Probe_t * ) pvParameters;

    pxProbe->iResult = ( pxProbe->xCall != NULL ) ? pxProbe->xCall() : 0;
    pxProbe->uxUnused = uxTaskGetStackHighWaterMark( NULL );
    xTaskNotifyGive( xMainTask );
    vTaskDelete( NULL );
}

static UBaseType_t prvRunProbe( Probe_t * pxProbe )
{
    if( xTaskCreate( prvProbeTask, "probe", PROBE_STACK_WORDS, pxProbe, tskIDLE_PRIORITY + 2, NULL ) != pdPASS )
    {
        prvFail( "creating a probe task", 0 );
    }

    ( void ) ulTaskNotifyTake( pdTRUE, portMAX_DELAY );
    vTaskDelay( 2 ); /* The idle task frees the probe's stack. */
    return pxProbe->uxUnused;
}

static UBaseType_t uxEmptyUnused = 0;

static void prvMeasure( const char * pcName,
                        Call_t xCall,
                        int iExpected )
{
    Probe_t xProbe = { xCall, 0, 0 };
    char cFigure[ 64 ];
    UBaseType_t uxUnused = prvRunProbe( &xProbe );

    if( xProbe.iResult != iExpected )
    {
        prvFail( pcName, xProbe.iResult );
    }

    snprintf( cFigure, sizeof( cFigure ), "caller_stack_bytes.%s", pcName );
    vBoardFigure( cFigure, ( uxEmptyUnused - uxUnused ) * sizeof( StackType_t ) );
}

/* ---- The calls ------------------------------------------------------------- */

static MQTTBool_t prvOnPublish( void * pvContext,
                                const MQTTPublishData_t * const pxPublish )
{
    ( void ) pvContext;
    ( void ) pxPublish;
    return eMQTTFalse;
}

static int prvCreate( void )
{
    return MQTT_AGENT_Create( &xClient );
}

static int prvConnectPlain( void )
{
    MQTTAgentConnectParams_t xConnect =
    {
        .pcURL            = "localhost",
        .usPort           = usPlainPort,
        .pucClientId      = ( const uint8_t * ) "afr-qemu-figures",
        .usClientIdLength = 16,
    };

    return MQTT_AGENT_Connect( xClient, &xConnect, TIMEOUT_TICKS );
}

static int prvConnectTls( void )
{
    MQTTAgentConnectParams_t xConnect =
    {
        .pcURL             = "localhost",
        .xFlags            = mqttagentREQUIRE_TLS,
        .usPort            = usTlsPort,
        .pucClientId       = ( const uint8_t * ) "afr-qemu-figures",
        .usClientIdLength  = 16,
        .pcCertificate     = ( char * ) AFR_TEST_CA_PEM,
        .ulCertificateSize = sizeof( AFR_TEST_CA_PEM ),
    };

    return MQTT_AGENT_Connect( xClient, &xConnect, TIMEOUT_TICKS );
}

static int prvSubscribe( void )
{
    MQTTAgentSubscribeParams_t xSubscribe =
    {
        .pucTopic          = ( const uint8_t * ) TOPIC,
        .usTopicLength     = sizeof( TOPIC ) - 1,
        .xQoS              = eMQTTQoS1,
        .pxPublishCallback = prvOnPublish,
    };

    return MQTT_AGENT_Subscribe( xClient, &xSubscribe, TIMEOUT_TICKS );
}

static int prvPublish( void )
{
    MQTTAgentPublishParams_t xPublish =
    {
        .pucTopic      = ( const uint8_t * ) TOPIC "/out",
        .usTopicLength = sizeof( TOPIC "/out" ) - 1,
        .xQoS          = eMQTTQoS1,
        .pvData        = "figures",
        .ulDataLength  = 7,
    };

    return MQTT_AGENT_Publish( xClient, &xPublish, TIMEOUT_TICKS );
}

static int prvUnsubscribe( void )
{
    MQTTAgentUnsubscribeParams_t xUnsubscribe = { ( const uint8_t * ) TOPIC, sizeof( TOPIC ) - 1 };

    return MQTT_AGENT_Unsubscribe( xClient, &xUnsubscribe, TIMEOUT_TICKS );
}

static int prvDisconnect( void )
{
    return MQTT_AGENT_Disconnect( xClient, TIMEOUT_TICKS );
}

static int prvDelete( void )
{
    return MQTT_AGENT_Delete( xClient );
}

static int prvShadowCreate( void )
{
    ShadowCreateParams_t xCreate = { .xMQTTClientType = eDedicatedMQTTClient };

    return SHADOW_ClientCreate( &xShadow, &xCreate );
}

static int prvShadowConnect( void )
{
    MQTTAgentConnectParams_t xConnect =
    {
        .pcURL            = "localhost",
        .usPort           = usPlainPort,
        .pucClientId      = ( const uint8_t * ) "afr-qemu-shadow",
        .usClientIdLength = 15,
    };

    return SHADOW_ClientConnect( xShadow, &xConnect, TIMEOUT_TICKS );
}

static BaseType_t prvOnDelta( void * pvUserData,
                              const char * const pcThingName,
                              const char * const pcDeltaDocument,
                              uint32_t ulDocumentLength,
                              MQTTBufferHandle_t xBuffer )
{
    ( void ) pvUserData;
    ( void ) pcThingName;
    ( void ) pcDeltaDocument;
    ( void ) ulDocumentLength;
    ( void ) xBuffer;
    return pdFALSE;
}

static int prvShadowRegister( void )
{
    ShadowCallbackParams_t xCallbacks = { .pcThingName = THING, .xShadowDeltaCallback = prvOnDelta };

    return SHADOW_RegisterCallbacks( xShadow, &xCallbacks, TIMEOUT_TICKS );
}

static int prvShadowUpdate( void )
{
    static const char cDoc[] = "{\"state\":{\"reported\":{\"power\":\"on\"}},\"clientToken\":\"figures-1\"}";
    ShadowOperationParams_t xUpdate =
    {
        .pcThingName = THING, .pcData = cDoc, .ulDataLength = sizeof( cDoc ) - 1, .xQoS = eMQTTQoS1,
    };

    return SHADOW_Update( xShadow, &xUpdate, TIMEOUT_TICKS );
}

static int prvShadowGet( void )
{
    ShadowOperationParams_t xGet = { .pcThingName = THING, .xQoS = eMQTTQoS1 };
    int iResult = SHADOW_Get( xShadow, &xGet, TIMEOUT_TICKS );

    if( iResult == eShadowSuccess )
    {
        ( void ) SHADOW_ReturnMQTTBuffer( xShadow, xGet.xBuffer );
    }

    return iResult;
}

static int prvShadowDelete( void )
{
    ShadowOperationParams_t xDelete = { .pcThingName = THING, .xQoS = eMQTTQoS1 };

    return SHADOW_Delete( xShadow, &xDelete, TIMEOUT_TICKS );
}

static int prvShadowDisconnect( void )
{
    return SHADOW_ClientDisconnect( xShadow );
}

static int prvShadowDeleteClient( void )
{
    return SHADOW_ClientDelete( xShadow );
}

/* ---- Counting instructions ---------------------------------------------------- */

static const char * const pcNonIdle[] = { "MQTT", "UartLink", "main", "Tmr Svc" };

static uint64_t prvBusyCounts( void )
{
    uint64_t ullSum = 0;

    for( size_t i = 0; i < sizeof( pcNonIdle ) / sizeof( pcNonIdle[ 0 ] ); i++ )
    {
        ullSum += ullBoardTaskRunTime( pcNonIdle[ i ] );
    }

    return ullSum;
}

static void prvHeapFigure( const char * pcPhase )
{
    char cFigure[ 64 ];

    snprintf( cFigure, sizeof( cFigure ), "heap_peak_use_bytes.%s", pcPhase );
    vBoardFigure( cFigure, configTOTAL_HEAP_SIZE - xPortGetMinimumEverFreeHeapSize() );
}

static void prvAgentStackFigure( const char * pcPhase )
{
    char cFigure[ 64 ];
    TaskHandle_t xAgent = xTaskGetHandle( "MQTT" );

    snprintf( cFigure, sizeof( cFigure ), "agent_stack_used_bytes.%s", pcPhase );
    vBoardFigure( cFigure, ( mqttconfigMQTT_TASK_STACK_DEPTH - uxTaskGetStackHighWaterMark( xAgent ) ) * sizeof( StackType_t ) );
}

static void prvMain( void * pvParameters )
{
    ( void ) pvParameters;
    usPlainPort = prvEnvPort( "AFR_TEST_BROKER_PORT", usPlainPort );
    usTlsPort = prvEnvPort( "AFR_TEST_TLS_PORT", usTlsPort );

    Probe_t xEmpty = { NULL, 0, 0 };
    uxEmptyUnused = prvRunProbe( &xEmpty );
    prvHeapFigure( "idle" );

    /* Plain MQTT: each call's stack, then the round trips. */
    prvMeasure( "MQTT_AGENT_Create", prvCreate, eMQTTAgentSuccess );
    prvMeasure( "MQTT_AGENT_Connect", prvConnectPlain, eMQTTAgentSuccess );
    prvMeasure( "MQTT_AGENT_Subscribe", prvSubscribe, eMQTTAgentSuccess );
    prvMeasure( "MQTT_AGENT_Publish", prvPublish, eMQTTAgentSuccess );

    uint64_t ullBusy = prvBusyCounts();
    uint64_t ullAgent = ullBoardTaskRunTime( "MQTT" );

    for( int i = 0; i < ROUND_TRIPS; i++ )
    {
        int iResult = prvPublish();

        if( iResult != eMQTTAgentSuccess )
        {
            prvFail( "MQTT_AGENT_Publish", iResult );
        }
    }

    vBoardFigure( "qos1_round_trip_instructions.all_tasks", ( prvBusyCounts() - ullBusy ) * 40U / ROUND_TRIPS );
    vBoardFigure( "qos1_round_trip_instructions.agent_task", ( ullBoardTaskRunTime( "MQTT" ) - ullAgent ) * 40U / ROUND_TRIPS );
    prvMeasure( "MQTT_AGENT_Unsubscribe", prvUnsubscribe, eMQTTAgentSuccess );
    prvMeasure( "MQTT_AGENT_Disconnect", prvDisconnect, eMQTTAgentSuccess );
    prvAgentStackFigure( "plain" );
    prvHeapFigure( "plain" );

    /* The shadow client, on a dedicated connection. */
    prvMeasure( "SHADOW_ClientCreate", prvShadowCreate, eShadowSuccess );
    prvMeasure( "SHADOW_ClientConnect", prvShadowConnect, eShadowSuccess );
    prvMeasure( "SHADOW_RegisterCallbacks", prvShadowRegister, eShadowSuccess );
    prvMeasure( "SHADOW_Update", prvShadowUpdate, eShadowSuccess );
    prvMeasure( "SHADOW_Get", prvShadowGet, eShadowSuccess );
    prvMeasure( "SHADOW_Delete", prvShadowDelete, eShadowSuccess );
    prvMeasure( "SHADOW_ClientDisconnect", prvShadowDisconnect, eShadowSuccess );
    prvMeasure( "SHADOW_ClientDelete", prvShadowDeleteClient, eShadowSuccess );
    prvAgentStackFigure( "shadow" );
    prvHeapFigure( "shadow" );

    /* Mutual TLS through the library (rustls). */
    ullAgent = ullBoardTaskRunTime( "MQTT" );
    TickType_t xStart = xTaskGetTickCount();
    prvMeasure( "MQTT_AGENT_Connect_TLS", prvConnectTls, eMQTTAgentSuccess );
    vBoardFigure( "tls_handshake_instructions.agent_task", ( ullBoardTaskRunTime( "MQTT" ) - ullAgent ) * 40U );
    vBoardFigure( "tls_connect_ticks", xTaskGetTickCount() - xStart );
    ullAgentCountsPlain = ullBoardTaskRunTime( "MQTT" );
    ullBusy = prvBusyCounts();

    for( int i = 0; i < ROUND_TRIPS; i++ )
    {
        int iResult = prvPublish();

        if( iResult != eMQTTAgentSuccess )
        {
            prvFail( "MQTT_AGENT_Publish over TLS", iResult );
        }
    }

    vBoardFigure( "qos1_round_trip_instructions_tls.all_tasks", ( prvBusyCounts() - ullBusy ) * 40U / ROUND_TRIPS );
    vBoardFigure( "qos1_round_trip_instructions_tls.agent_task", ( ullBoardTaskRunTime( "MQTT" ) - ullAgentCountsPlain ) * 40U / ROUND_TRIPS );
    prvMeasure( "MQTT_AGENT_Disconnect_TLS", prvDisconnect, eMQTTAgentSuccess );
    prvMeasure( "MQTT_AGENT_Delete", prvDelete, eMQTTAgentSuccess );
    prvAgentStackFigure( "tls" );
    prvHeapFigure( "tls" );
    printf( "figures: done\n" );
    exit( 0 );
}

int main( void )
{
    BUFFERPOOL_Init();
    MQTT_AGENT_Init();
    xTaskCreate( prvMain, "main", configMINIMAL_STACK_SIZE * 2, NULL, tskIDLE_PRIORITY + 1, &xMainTask );
    vTaskStartScheduler();
    return 1;
}
