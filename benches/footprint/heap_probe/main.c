/*
 * Heap probe: how much of the FreeRTOS heap the library takes, which the
 * footprint images' .data + .bss cannot show (the agent's state, its clients
 * and the shadow client are allocated with pvPortMalloc; AFR v1's C agent
 * kept most of its state in static arrays, so its RAM number includes it).
 *
 * Runs on the 32-bit FreeRTOS POSIX simulator (pointers and usize as on
 * Cortex-M; kernel object sizes differ a little) with the footprint images'
 * AFR configuration and the stub sockets port, and prints one line:
 *
 *   heap_probe: task=<n> agent=<n> clients=<n> shadow=<n>
 *
 *   task     one task with the MQTT task's stack depth (xTaskCreate's own
 *            cost, for reference: the agent creates such a task)
 *   agent    BUFFERPOOL_Init + MQTT_AGENT_Init, once the agent task has
 *            started (it allocates its per-broker state then), task included
 *   clients  MQTT_AGENT_Create up to mqttconfigMAX_BROKERS
 *   shadow   SHADOW_ClientCreate of a dedicated client (one broker freed first)
 */
#include <stdio.h>
#include <stdlib.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_mqtt_agent.h"
#include "aws_mqtt_agent_config.h"
#include "aws_shadow.h"

static void prvParked( void * pvParameters )
{
    ( void ) pvParameters;

    for( ; ; )
    {
        vTaskSuspend( NULL );
    }
}

static void prvProbe( void * pvParameters )
{
    size_t xMark, xTask, xAgent, xClients, xShadow;
    MQTTAgentHandle_t xHandles[ mqttconfigMAX_BROKERS ];
    BaseType_t xCreated = 0;
    ShadowClientHandle_t xShadowHandle = NULL;
    ShadowCreateParams_t xCreate = { .xMQTTClientType = eDedicatedMQTTClient };

    ( void ) pvParameters;
    vTaskDelay( pdMS_TO_TICKS( 50 ) ); /* Let the idle and timer tasks settle. */

    xMark = xPortGetFreeHeapSize();
    if( xTaskCreate( prvParked, "parked", mqttconfigMQTT_TASK_STACK_DEPTH, NULL, tskIDLE_PRIORITY, NULL ) != pdPASS )
    {
        fprintf( stderr, "heap_probe: xTaskCreate failed\n" );
        exit( 1 );
    }
    xTask = xMark - xPortGetFreeHeapSize();

    xMark = xPortGetFreeHeapSize();
    if( ( BUFFERPOOL_Init() != pdPASS ) || ( MQTT_AGENT_Init() != pdPASS ) )
    {
        fprintf( stderr, "heap_probe: BUFFERPOOL_Init or MQTT_AGENT_Init failed\n" );
        exit( 1 );
    }
    vTaskDelay( pdMS_TO_TICKS( 200 ) );
    xAgent = xMark - xPortGetFreeHeapSize();

    xMark = xPortGetFreeHeapSize();
    while( ( xCreated < mqttconfigMAX_BROKERS ) && ( MQTT_AGENT_Create( &xHandles[ xCreated ] ) == eMQTTAgentSuccess ) )
    {
        xCreated++;
    }
    xClients = xMark - xPortGetFreeHeapSize();
    if( xCreated != mqttconfigMAX_BROKERS )
    {
        fprintf( stderr, "heap_probe: only %ld of %d clients created\n", ( long ) xCreated, mqttconfigMAX_BROKERS );
        exit( 1 );
    }

    ( void ) MQTT_AGENT_Delete( xHandles[ xCreated - 1 ] );
    vTaskDelay( pdMS_TO_TICKS( 50 ) );
    xMark = xPortGetFreeHeapSize();
    if( SHADOW_ClientCreate( &xShadowHandle, &xCreate ) != eShadowSuccess )
    {
        fprintf( stderr, "heap_probe: SHADOW_ClientCreate failed\n" );
        exit( 1 );
    }
    vTaskDelay( pdMS_TO_TICKS( 50 ) );
    xShadow = xMark - xPortGetFreeHeapSize();

    printf( "heap_probe: task=%zu agent=%zu clients=%zu shadow=%zu\n", xTask, xAgent, xClients, xShadow );
    fflush( stdout );
    exit( 0 );
}

int main( void )
{
    xTaskCreate( prvProbe, "probe", configMINIMAL_STACK_SIZE, NULL, tskIDLE_PRIORITY + 2, NULL );
    vTaskStartScheduler();
    return 1;
}
