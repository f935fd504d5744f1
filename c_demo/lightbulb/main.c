/*
 * Lightbulb demo of the Device Shadow client (AFR v1 API), on the FreeRTOS
 * POSIX simulator. The device reports its state and registers a delta
 * callback; a controller (a second shadow client, like a phone app) sets a new
 * desired state; the device receives the delta, switches the bulb and reports
 * back; the controller reads the shadow and sees reported == desired.
 *
 * Needs a broker on localhost:$MQTT_BROKER_PORT (or $AFR_TEST_BROKER_PORT) and
 * a shadow service: scripts/demo.sh lightbulb starts both.
 *
 * Built with democonfigUSE_TLS, both clients connect over mutual TLS to
 * $AFR_TEST_TLS_PORT with pcCertificate NULL, as AFR's demos did: the server
 * is verified against the project's default roots (here the test CA, put in
 * the simulator's mqttconfigTLS_DEFAULT_ROOTS_PEM at start-up), by whichever
 * TLS back-end the build chose (the library's, or the Secure Sockets port's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"
#include "queue.h"

#include "aws_bufferpool.h"
#include "aws_mqtt_agent.h"
#include "aws_shadow.h"

#if defined( democonfigUSE_TLS ) && ( democonfigUSE_TLS == 1 )
    #include "ca_pem.h" /* AFR_TEST_CA_PEM: the CA that signed the broker's certificate. */
    #define demoCONNECT_FLAGS    mqttagentREQUIRE_TLS
    #define demoPORT_ENV         "AFR_TEST_TLS_PORT"
    extern char cSimDefaultRootsPem[ 8192 ];
#else
    #define demoCONNECT_FLAGS    0
    #define demoPORT_ENV         "AFR_TEST_BROKER_PORT"
#endif

#define THING            "lightbulb"
#define TIMEOUT_TICKS    pdMS_TO_TICKS( 10000 )

typedef struct
{
    char cPower[ 8 ];
    int iBrightness;
} Bulb_t;

static QueueHandle_t xDeltas;
static ShadowClientHandle_t xDevice, xController;
static volatile BaseType_t xDeviceReady = pdFALSE;

static uint16_t prvPort( void )
{
    const char * pcPort = getenv( "MQTT_BROKER_PORT" );

    if( pcPort == NULL )
    {
        pcPort = getenv( demoPORT_ENV );
    }

    return ( uint16_t ) atoi( pcPort != NULL ? pcPort : "1883" );
}

static void prvFail( const char * pcWhat, int iResult )
{
    printf( "lightbulb: %s failed (%d)\n", pcWhat, iResult );
    exit( 1 );
}

/* Reads "key": value from a small JSON document (enough for this demo). */
static BaseType_t prvFindString( const char * pcDoc, uint32_t ulLength, const char * pcKey, char * pcOut, size_t xOutSize )
{
    char cPattern[ 32 ];
    snprintf( cPattern, sizeof( cPattern ), "\"%s\":\"", pcKey );
    const char * p = memmem( pcDoc, ulLength, cPattern, strlen( cPattern ) );

    if( p == NULL )
    {
        return pdFALSE;
    }

    p += strlen( cPattern );
    size_t n = 0;

    while( ( p + n < pcDoc + ulLength ) && ( p[ n ] != '"' ) && ( n + 1 < xOutSize ) )
    {
        n++;
    }

    memcpy( pcOut, p, n );
    pcOut[ n ] = '\0';
    return pdTRUE;
}

static BaseType_t prvFindInt( const char * pcDoc, uint32_t ulLength, const char * pcKey, int * piOut )
{
    char cPattern[ 32 ];
    snprintf( cPattern, sizeof( cPattern ), "\"%s\":", pcKey );
    const char * p = memmem( pcDoc, ulLength, cPattern, strlen( cPattern ) );

    if( p == NULL )
    {
        return pdFALSE;
    }

    *piOut = atoi( p + strlen( cPattern ) );
    return pdTRUE;
}

/* Runs in the MQTT agent's task: hand the wish to the device task. */
static BaseType_t prvOnDelta( void * pvUserData, const char * const pcThingName,
                              const char * const pcDeltaDocument, uint32_t ulDocumentLength,
                              MQTTBufferHandle_t xBuffer )
{
    Bulb_t xWanted = { "", -1 };

    ( void ) pvUserData;
    ( void ) xBuffer;
    printf( "device: delta for %s: %.*s\n", pcThingName, ( int ) ulDocumentLength, pcDeltaDocument );
    prvFindString( pcDeltaDocument, ulDocumentLength, "power", xWanted.cPower, sizeof( xWanted.cPower ) );
    prvFindInt( pcDeltaDocument, ulDocumentLength, "brightness", &xWanted.iBrightness );
    xQueueSend( xDeltas, &xWanted, 0 );
    return pdFALSE; /* The library recycles the buffer. */
}

static void prvConnect( ShadowClientHandle_t * pxClient, const char * pcId )
{
    ShadowCreateParams_t xCreate = { .xMQTTClientType = eDedicatedMQTTClient };
    MQTTAgentConnectParams_t xConnect =
    {
        .pcURL            = "localhost",
        .xFlags           = demoCONNECT_FLAGS,
        .usPort           = prvPort(),
        .pucClientId      = ( const uint8_t * ) pcId,
        .usClientIdLength = ( uint16_t ) strlen( pcId ),
        .pvUserData       = pxClient,
    };
    ShadowReturnCode_t r;

    if( ( r = SHADOW_ClientCreate( pxClient, &xCreate ) ) != eShadowSuccess )
    {
        prvFail( "SHADOW_ClientCreate", r );
    }

    if( ( r = SHADOW_ClientConnect( *pxClient, &xConnect, TIMEOUT_TICKS ) ) != eShadowSuccess )
    {
        prvFail( "SHADOW_ClientConnect", r );
    }
}

static void prvReport( const Bulb_t * pxBulb )
{
    char cDoc[ 128 ];
    snprintf( cDoc, sizeof( cDoc ), "{\"state\":{\"reported\":{\"power\":\"%s\",\"brightness\":%d}}}",
              pxBulb->cPower, pxBulb->iBrightness );
    ShadowOperationParams_t xUpdate =
    {
        .pcThingName  = THING,
        .pcData       = cDoc,
        .ulDataLength = ( uint32_t ) strlen( cDoc ),
        .xQoS         = eMQTTQoS1,
    };
    ShadowReturnCode_t r = SHADOW_Update( xDevice, &xUpdate, TIMEOUT_TICKS );

    if( r != eShadowSuccess )
    {
        prvFail( "device SHADOW_Update", r );
    }

    printf( "device: reported %s\n", cDoc );
}

static void prvDeviceTask( void * pvParameters )
{
    Bulb_t xBulb = { "off", 0 };

    ( void ) pvParameters;
    prvConnect( &xDevice, "lightbulb-device" );

    ShadowCallbackParams_t xCallbacks = { .pcThingName = THING, .xShadowDeltaCallback = prvOnDelta };
    ShadowReturnCode_t r = SHADOW_RegisterCallbacks( xDevice, &xCallbacks, TIMEOUT_TICKS );

    if( r != eShadowSuccess )
    {
        prvFail( "SHADOW_RegisterCallbacks", r );
    }

    prvReport( &xBulb );
    xDeviceReady = pdTRUE;

    for( ; ; )
    {
        Bulb_t xWanted;
        xQueueReceive( xDeltas, &xWanted, portMAX_DELAY );

        if( xWanted.cPower[ 0 ] != '\0' )
        {
            strcpy( xBulb.cPower, xWanted.cPower );
        }

        if( xWanted.iBrightness >= 0 )
        {
            xBulb.iBrightness = xWanted.iBrightness;
        }

        printf( "device: the bulb is now %s at %d%%\n", xBulb.cPower, xBulb.iBrightness );
        prvReport( &xBulb );
    }
}

static void prvControllerTask( void * pvParameters )
{
    static const char cDesired[] = "{\"state\":{\"desired\":{\"power\":\"on\",\"brightness\":80}}}";

    ( void ) pvParameters;

    while( xDeviceReady == pdFALSE )
    {
        vTaskDelay( 10 );
    }

    prvConnect( &xController, "lightbulb-controller" );
    ShadowOperationParams_t xUpdate =
    {
        .pcThingName  = THING,
        .pcData       = cDesired,
        .ulDataLength = sizeof( cDesired ) - 1,
        .xQoS         = eMQTTQoS1,
    };
    ShadowReturnCode_t r = SHADOW_Update( xController, &xUpdate, TIMEOUT_TICKS );

    if( r != eShadowSuccess )
    {
        prvFail( "controller SHADOW_Update", r );
    }

    printf( "controller: desired %s\n", cDesired );

    /* Wait until the device has followed: reported matches desired. */
    for( int i = 0; i < 100; i++ )
    {
        ShadowOperationParams_t xGet = { .pcThingName = THING, .xQoS = eMQTTQoS1 };
        char cPower[ 8 ] = "";
        int iBrightness = -1;

        vTaskDelay( pdMS_TO_TICKS( 100 ) );

        if( ( r = SHADOW_Get( xController, &xGet, TIMEOUT_TICKS ) ) != eShadowSuccess )
        {
            prvFail( "controller SHADOW_Get", r );
        }

        const char * pcReported = memmem( xGet.pcData, xGet.ulDataLength, "\"reported\"", 10 );
        uint32_t ulRest = ( pcReported != NULL ) ? ( uint32_t ) ( xGet.pcData + xGet.ulDataLength - pcReported ) : 0;
        BaseType_t xFollowed = ( pcReported != NULL ) &&
                               prvFindString( pcReported, ulRest, "power", cPower, sizeof( cPower ) ) &&
                               prvFindInt( pcReported, ulRest, "brightness", &iBrightness ) &&
                               ( strcmp( cPower, "on" ) == 0 ) && ( iBrightness == 80 );
        SHADOW_ReturnMQTTBuffer( xController, xGet.xBuffer );

        if( xFollowed )
        {
            printf( "controller: the shadow reports power %s, brightness %d: the device followed\n", cPower, iBrightness );
            SHADOW_ClientDisconnect( xController );
            SHADOW_ClientDelete( xController );
            printf( "lightbulb: done\n" );
            exit( 0 );
        }
    }

    printf( "lightbulb: the device never reported the desired state\n" );
    exit( 1 );
}

int main( void )
{
    #if defined( democonfigUSE_TLS ) && ( democonfigUSE_TLS == 1 )
        /* The project's default roots; a device names a PEM string in flash. */
        snprintf( cSimDefaultRootsPem, 8192, "%s", AFR_TEST_CA_PEM );
    #endif
    BUFFERPOOL_Init();
    MQTT_AGENT_Init();
    xDeltas = xQueueCreate( 4, sizeof( Bulb_t ) );
    xTaskCreate( prvDeviceTask, "device", configMINIMAL_STACK_SIZE * 2, NULL, tskIDLE_PRIORITY + 1, NULL );
    xTaskCreate( prvControllerTask, "controller", configMINIMAL_STACK_SIZE * 2, NULL, tskIDLE_PRIORITY + 1, NULL );
    vTaskStartScheduler();
    return 1;
}
