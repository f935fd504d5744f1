/*
 * Foundation demo: an AFR-style C program on the FreeRTOS POSIX simulator,
 * linked with the Rust library. Three C tasks share the central buffer pool
 * (aws_bufferpool.h) the way the MQTT agent and the application do: take a
 * buffer, fill it, hand it on through a queue, give it back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"
#include "queue.h"

#include "aws_bufferpool.h"

#define MESSAGES    ( 20 )

static QueueHandle_t xQueue;

static void prvProducer( void * pvParameters )
{
    ( void ) pvParameters;

    for( int i = 0; i < MESSAGES; i++ )
    {
        uint32_t ulLength = 64;
        uint8_t * pucBuffer;

        /* Wait for a free buffer, as the agent does when the pool is empty. */
        while( ( pucBuffer = BUFFERPOOL_GetFreeBuffer( &ulLength ) ) == NULL )
        {
            vTaskDelay( 1 );
        }

        snprintf( ( char * ) pucBuffer, ulLength, "message %d in a %u-byte pool buffer", i, ( unsigned ) ulLength );
        xQueueSend( xQueue, &pucBuffer, portMAX_DELAY );
    }

    vTaskDelete( NULL );
}

static void prvConsumer( void * pvParameters )
{
    ( void ) pvParameters;

    for( int i = 0; i < MESSAGES; i++ )
    {
        uint8_t * pucBuffer;
        xQueueReceive( xQueue, &pucBuffer, portMAX_DELAY );
        printf( "consumer: %s\n", ( const char * ) pucBuffer );
        BUFFERPOOL_ReturnBuffer( pucBuffer );
        BUFFERPOOL_ReturnBuffer( pucBuffer ); /* A second return is refused, harmlessly. */
    }

    printf( "pool_tour: done, every buffer returned\n" );
    exit( 0 );
}

int main( void )
{
    BUFFERPOOL_Init();
    xQueue = xQueueCreate( 4, sizeof( uint8_t * ) );
    xTaskCreate( prvProducer, "producer", configMINIMAL_STACK_SIZE, NULL, tskIDLE_PRIORITY + 1, NULL );
    xTaskCreate( prvConsumer, "consumer", configMINIMAL_STACK_SIZE, NULL, tskIDLE_PRIORITY + 1, NULL );
    vTaskStartScheduler();
    return 1;
}
