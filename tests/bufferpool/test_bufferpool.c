/*
 * The buffer pool's C API (aws_bufferpool.h) under the FreeRTOS POSIX simulator:
 * AFR v1 semantics, refusal of foreign and double returns, and several FreeRTOS
 * tasks sharing the pool without ever holding the same buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"

#define NUM     ( bufferpoolconfigNUM_BUFFERS )
#define SIZE    ( bufferpoolconfigBUFFER_SIZE )

static int iFailures = 0;

#define CHECK( cond )                                                  \
    do {                                                               \
        if( !( cond ) )                                                \
        {                                                              \
            printf( "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond );   \
            iFailures++;                                               \
        }                                                              \
    } while( 0 )

/* Takes every free buffer into pxOut; returns how many it got. */
static int prvDrain( uint8_t * pxOut[ NUM + 1 ] )
{
    int n = 0;

    for( ; n < NUM + 1; n++ )
    {
        uint32_t ulLen = 1;
        pxOut[ n ] = BUFFERPOOL_GetFreeBuffer( &ulLen );

        if( pxOut[ n ] == NULL )
        {
            break;
        }
    }

    return n;
}

static void prvReturnAll( uint8_t * pxBufs[], int n )
{
    for( int i = 0; i < n; i++ )
    {
        BUFFERPOOL_ReturnBuffer( pxBufs[ i ] );
    }
}

static void prvSingleTaskChecks( void )
{
    uint8_t * pxBufs[ NUM + 1 ];
    uint32_t ulLen;

    CHECK( BUFFERPOOL_Init() == pdPASS );

    /* NULL length pointer and oversize requests get NULL; the length stays. */
    CHECK( BUFFERPOOL_GetFreeBuffer( NULL ) == NULL );
    ulLen = SIZE + 1;
    CHECK( BUFFERPOOL_GetFreeBuffer( &ulLen ) == NULL );
    CHECK( ulLen == SIZE + 1 );

    /* Exactly NUM distinct, fully writable buffers; the real size comes back. */
    ulLen = 0;
    uint8_t * pucFirst = BUFFERPOOL_GetFreeBuffer( &ulLen );
    CHECK( pucFirst != NULL );
    CHECK( ulLen == SIZE );
    BUFFERPOOL_ReturnBuffer( pucFirst );

    int n = prvDrain( pxBufs );
    CHECK( n == NUM );

    for( int i = 0; i < n; i++ )
    {
        memset( pxBufs[ i ], i + 1, SIZE );
    }

    for( int i = 0; i < n; i++ )
    {
        for( int j = 0; j < SIZE; j++ )
        {
            if( pxBufs[ i ][ j ] != ( uint8_t ) ( i + 1 ) )
            {
                CHECK( !"buffers overlap" );
                break;
            }
        }
    }

    /* Init while buffers are out must not free them. */
    CHECK( BUFFERPOOL_Init() == pdPASS );
    ulLen = 1;
    CHECK( BUFFERPOOL_GetFreeBuffer( &ulLen ) == NULL );

    /* Return one, get the same one back. */
    BUFFERPOOL_ReturnBuffer( pxBufs[ 0 ] );
    ulLen = 1;
    CHECK( BUFFERPOOL_GetFreeBuffer( &ulLen ) == pxBufs[ 0 ] );

    /* A double return is refused: only one buffer becomes free. */
    BUFFERPOOL_ReturnBuffer( pxBufs[ 1 ] );
    BUFFERPOOL_ReturnBuffer( pxBufs[ 1 ] );
    ulLen = 1;
    CHECK( BUFFERPOOL_GetFreeBuffer( &ulLen ) == pxBufs[ 1 ] );
    ulLen = 1;
    CHECK( BUFFERPOOL_GetFreeBuffer( &ulLen ) == NULL );

    /* Foreign pointers are refused and corrupt nothing. */
    uint8_t ucStack[ 16 ];
    BUFFERPOOL_ReturnBuffer( NULL );
    BUFFERPOOL_ReturnBuffer( ucStack );
    BUFFERPOOL_ReturnBuffer( pxBufs[ 2 ] + 1 );
    BUFFERPOOL_ReturnBuffer( pxBufs[ NUM - 1 ] + SIZE );
    ulLen = 1;
    CHECK( BUFFERPOOL_GetFreeBuffer( &ulLen ) == NULL );

    prvReturnAll( pxBufs, n );
    CHECK( prvDrain( pxBufs ) == NUM );
    prvReturnAll( pxBufs, NUM );
}

#define STRESS_TASKS     4
#define STRESS_ROUNDS    2000

static volatile int iDone = 0;
static volatile int iCorrupt = 0;

static void prvStressTask( void * pvParameters )
{
    uint8_t ucMark = ( uint8_t ) ( uintptr_t ) pvParameters;

    for( int r = 0; r < STRESS_ROUNDS; r++ )
    {
        uint32_t ulLen = SIZE;
        uint8_t * p = BUFFERPOOL_GetFreeBuffer( &ulLen );

        if( p == NULL )
        {
            taskYIELD();
            continue;
        }

        memset( p, ucMark, SIZE );

        if( ( r % 7 ) == 0 )
        {
            taskYIELD(); /* Let others run while this task holds the buffer. */
        }

        for( int j = 0; j < SIZE; j += 61 )
        {
            if( p[ j ] != ucMark )
            {
                iCorrupt++;
                break;
            }
        }

        BUFFERPOOL_ReturnBuffer( p );
    }

    taskENTER_CRITICAL();
    iDone++;
    taskEXIT_CRITICAL();
    vTaskDelete( NULL );
}

static void prvMain( void * pvParameters )
{
    ( void ) pvParameters;
    prvSingleTaskChecks();

    for( uintptr_t i = 0; i < STRESS_TASKS; i++ )
    {
        xTaskCreate( prvStressTask, "stress", configMINIMAL_STACK_SIZE, ( void * ) ( i + 1 ), tskIDLE_PRIORITY + 1, NULL );
    }

    for( int t = 0; t < 60000 && iDone < STRESS_TASKS; t++ )
    {
        vTaskDelay( 1 );
    }

    CHECK( iDone == STRESS_TASKS );
    CHECK( iCorrupt == 0 );

    /* Every buffer is back. */
    uint8_t * pxBufs[ NUM + 1 ];
    CHECK( prvDrain( pxBufs ) == NUM );

    printf( "%s: %d failure(s)\n", iFailures ? "FAIL" : "PASS", iFailures );
    exit( iFailures ? 1 : 0 );
}

int main( void )
{
    xTaskCreate( prvMain, "main", configMINIMAL_STACK_SIZE * 2, NULL, tskIDLE_PRIORITY + 1, NULL );
    vTaskStartScheduler();
    return 1;
}
