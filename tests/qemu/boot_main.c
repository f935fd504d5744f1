/*
 * The library on QEMU's MPS2 AN386 (Cortex-M4F): the kernel boots and
 * switches tasks on the SysTick, the agent task starts (MQTT_AGENT_Init),
 * clients are created and deleted (handles of both kinds checked), the buffer
 * pool hands out and takes back its buffers, the Rust allocator uses the
 * FreeRTOS heap, a connect fails cleanly on a port without network, and the
 * heap is as full as before. Output and the exit status go through ARM
 * semihosting (QEMU -semihosting-config enable=on). Exits 0 when all passed.
 */
#include <stdint.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "aws_mqtt_agent.h"
#include "aws_secure_sockets.h"
#include "aws_shadow.h"

/* ARM semihosting: SYS_WRITE0 (0x04) and SYS_EXIT_EXTENDED (0x20). */
static int prvSemihost( int iOperation,
                        void * pvArgument )
{
    register int r0 __asm__ ( "r0" ) = iOperation;
    register void * r1 __asm__ ( "r1" ) = pvArgument;

    __asm volatile ( "bkpt 0xab" : "+r" ( r0 ) : "r" ( r1 ) : "memory" );
    return r0;
}

static void prvPrint( const char * pcText )
{
    ( void ) prvSemihost( 0x04, ( void * ) pcText );
}

static void prvExit( uint32_t ulStatus )
{
    uint32_t ulBlock[ 2 ] = { 0x20026UL /* ADP_Stopped_ApplicationExit */, ulStatus };

    ( void ) prvSemihost( 0x20, ulBlock );

    for( ; ; )
    {
    }
}

static int iFailed = 0;

static void prvCheck( int iOk,
                      const char * pcWhat )
{
    prvPrint( iOk ? "  ok   " : "  FAIL " );
    prvPrint( pcWhat );
    prvPrint( "\n" );
    iFailed += iOk ? 0 : 1;
}

static volatile uint32_t ulTicksSeen = 0;

static void prvCounter( void * pv )
{
    ( void ) pv;

    for( ; ; )
    {
        ulTicksSeen++;
        vTaskDelay( 1 );
    }
}

static void prvMain( void * pv )
{
    MQTTAgentHandle_t xA = NULL, xB = NULL;
    ShadowClientHandle_t xShadow = NULL;
    ShadowCreateParams_t xShared;
    uint8_t * pucBuffers[ bufferpoolconfigNUM_BUFFERS ];
    uint32_t ulLength;
    size_t xHeapBefore;
    MQTTAgentConnectParams_t xConnect =
    {
        .pcURL            = "192.0.2.1",
        .xFlags           = mqttagentURL_IS_IP_ADDRESS,
        .usPort           = 1883,
        .pucClientId      = ( const uint8_t * ) "qemu",
        .usClientIdLength = 4,
    };

    ( void ) pv;
    prvPrint( "qemu_boot: the library on an emulated Cortex-M4F (mps2-an386)\n" );
    vTaskDelay( 10 );
    prvCheck( ulTicksSeen >= 5, "the scheduler switches tasks on the SysTick" );

    prvCheck( MQTT_AGENT_Init() == pdPASS, "MQTT_AGENT_Init starts the agent task" );
    xHeapBefore = xPortGetFreeHeapSize();

    prvCheck( MQTT_AGENT_Create( &xA ) == eMQTTAgentSuccess && xA != NULL, "a client is created" );
    prvCheck( MQTT_AGENT_Create( &xB ) == eMQTTAgentSuccess && xB != xA, "a second one, another handle" );
    prvCheck( MQTT_AGENT_Connect( xA, &xConnect, 500 ) == eMQTTAgentFailure, "a connect without network fails" );
    xShared.xMQTTClientType = eSharedMQTTClient;
    xShared.xMQTTClientHandle = xB;
    prvCheck( SHADOW_ClientCreate( &xShadow, &xShared ) == eShadowSuccess, "a shadow client on it" );
    prvCheck( MQTT_AGENT_Delete( ( MQTTAgentHandle_t ) xShadow ) == eMQTTAgentFailure, "a shadow handle is no MQTT handle" );
    TickType_t xStart = xTaskGetTickCount();
    ShadowReturnCode_t xDeleted = SHADOW_ClientDelete( xShadow );
    prvCheck( xDeleted == eShadowSuccess, "the shadow client is deleted" );
    prvCheck( xTaskGetTickCount() - xStart < 100, "promptly" );
    prvCheck( MQTT_AGENT_Delete( xA ) == eMQTTAgentSuccess && MQTT_AGENT_Delete( xB ) == eMQTTAgentSuccess, "both are deleted" );
    prvCheck( MQTT_AGENT_Delete( xA ) == eMQTTAgentFailure, "a stale handle is refused" );

    for( int i = 0; i < bufferpoolconfigNUM_BUFFERS; i++ )
    {
        ulLength = bufferpoolconfigBUFFER_SIZE;
        pucBuffers[ i ] = BUFFERPOOL_GetFreeBuffer( &ulLength );
    }

    ulLength = 1;
    prvCheck( BUFFERPOOL_GetFreeBuffer( &ulLength ) == NULL, "the pool hands out each buffer once" );

    for( int i = 0; i < bufferpoolconfigNUM_BUFFERS; i++ )
    {
        BUFFERPOOL_ReturnBuffer( pucBuffers[ i ] );
    }

    /* Once more, now that the shadow client's tables exist (made at first use,
     * kept for good): the heap must come back to the same figure. */
    xHeapBefore = xPortGetFreeHeapSize();
    prvCheck( MQTT_AGENT_Create( &xB ) == eMQTTAgentSuccess, "a client again" );
    xShared.xMQTTClientHandle = xB;
    prvCheck( SHADOW_ClientCreate( &xShadow, &xShared ) == eShadowSuccess && SHADOW_ClientDelete( xShadow ) == eShadowSuccess,
              "a shadow client again" );
    prvCheck( MQTT_AGENT_Connect( xB, &xConnect, 500 ) == eMQTTAgentFailure && MQTT_AGENT_Delete( xB ) == eMQTTAgentSuccess,
              "a failed connect, a delete" );
    prvCheck( xPortGetFreeHeapSize() == xHeapBefore, "the FreeRTOS heap is as before (Rust's allocations freed)" );
    prvPrint( iFailed == 0 ? "qemu_boot: all passed\n" : "qemu_boot: FAILED\n" );
    prvExit( iFailed == 0 ? 0 : 1 );
}

int main( void )
{
    BUFFERPOOL_Init();
    ( void ) xTaskCreate( prvCounter, "count", configMINIMAL_STACK_SIZE, NULL, tskIDLE_PRIORITY + 1, NULL );
    ( void ) xTaskCreate( prvMain, "main", configMINIMAL_STACK_SIZE * 8, NULL, tskIDLE_PRIORITY + 2, NULL );
    vTaskStartScheduler();
    prvExit( 2 );
    return 0;
}
