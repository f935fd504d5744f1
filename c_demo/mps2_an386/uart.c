/*
 * CMSDK APB UART1 driver. The UART holds one received byte; QEMU (and the
 * hardware's sender, given flow control) offers the next one only after it was
 * read, so the receive interrupt moves each byte into a ring at once. When the
 * ring is full the interrupt stops reading (and masks itself): the byte waits
 * in the UART, nothing is lost, and the reader unmasks it after draining.
 */
#include "uart.h"

#include "board.h"

#define UART1_BASE         0x40005000UL
#define UART_DATA          ( *( volatile uint32_t * ) ( UART1_BASE + 0x00 ) )
#define UART_STATE         ( *( volatile uint32_t * ) ( UART1_BASE + 0x04 ) )
#define UART_CTRL          ( *( volatile uint32_t * ) ( UART1_BASE + 0x08 ) )
#define UART_INTCLEAR      ( *( volatile uint32_t * ) ( UART1_BASE + 0x0C ) )
#define UART_BAUDDIV       ( *( volatile uint32_t * ) ( UART1_BASE + 0x10 ) )

#define STATE_TX_FULL      ( 1UL << 0 )
#define STATE_RX_FULL      ( 1UL << 1 )
#define CTRL_TX_EN         ( 1UL << 0 )
#define CTRL_RX_EN         ( 1UL << 1 )
#define CTRL_RX_INT_EN     ( 1UL << 3 )
#define INT_RX             ( 1UL << 1 )

#define UART1_RX_IRQ       2
#define NVIC_ISER0         ( *( volatile uint32_t * ) 0xE000E100UL )
#define NVIC_IPR_BYTE( n )    ( *( volatile uint8_t * ) ( 0xE000E400UL + ( n ) ) )

/* Power of two. Holds frames until the link task parses them. */
#define RING_SIZE          4096U

static uint8_t ucRing[ RING_SIZE ];
static volatile uint32_t ulHead = 0; /* Written by the interrupt only. */
static volatile uint32_t ulTail = 0; /* Written by the reader only. */
static uint32_t ulHighWater = 0;
static TaskHandle_t xReaderTask = NULL;

void vUartInit( TaskHandle_t xReader )
{
    xReaderTask = xReader;
    UART_CTRL = 0;
    UART_BAUDDIV = 16; /* The smallest divisor the UART accepts; QEMU does not pace bytes. */
    UART_INTCLEAR = 0xF;
    /* Below configMAX_SYSCALL_INTERRUPT_PRIORITY: the handler notifies a task. */
    NVIC_IPR_BYTE( UART1_RX_IRQ ) = ( uint8_t ) configKERNEL_INTERRUPT_PRIORITY;
    NVIC_ISER0 = 1UL << UART1_RX_IRQ;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN;
}

void vUartWrite( const uint8_t * pucData,
                 size_t xLength )
{
    for( size_t i = 0; i < xLength; i++ )
    {
        while( ( UART_STATE & STATE_TX_FULL ) != 0 )
        {
        }

        UART_DATA = pucData[ i ];
    }
}

/* Moves bytes from the UART into the ring while there is room; with a full
 * ring it masks the receive interrupt and leaves the byte in the UART. Runs in
 * the interrupt, or with it masked. QEMU raises the interrupt only when a byte
 * arrives with the interrupt enabled, so whoever unmasks it drains right after. */
static void prvDrainUart( void )
{
    uint32_t ulHeadNow = ulHead;

    while( ( UART_STATE & STATE_RX_FULL ) != 0 )
    {
        if( ( ulHeadNow - ulTail ) >= RING_SIZE )
        {
            UART_CTRL &= ~CTRL_RX_INT_EN;
            break;
        }

        ucRing[ ulHeadNow % RING_SIZE ] = ( uint8_t ) UART_DATA;
        ulHeadNow++;
    }

    __asm volatile ( "dmb" ::: "memory" );
    ulHead = ulHeadNow;

    if( ( ulHeadNow - ulTail ) > ulHighWater )
    {
        ulHighWater = ulHeadNow - ulTail;
    }
}

void vBoardUart1RxHandler( void )
{
    BaseType_t xWoken = pdFALSE;

    UART_INTCLEAR = INT_RX;
    prvDrainUart();

    if( xReaderTask != NULL )
    {
        vTaskNotifyGiveFromISR( xReaderTask, &xWoken );
    }

    portYIELD_FROM_ISR( xWoken );
}

size_t xUartRead( uint8_t * pucData,
                  size_t xMax )
{
    uint32_t ulHeadNow = ulHead;
    size_t xCount = 0;

    __asm volatile ( "dmb" ::: "memory" );

    while( ( ulTail != ulHeadNow ) && ( xCount < xMax ) )
    {
        pucData[ xCount++ ] = ucRing[ ulTail % RING_SIZE ];
        ulTail++;
    }

    if( ( UART_CTRL & CTRL_RX_INT_EN ) == 0 )
    {
        /* The handler stopped on a full ring; there is room now. Unmask first
         * (a byte that comes later raises the interrupt), then take the byte
         * that has been waiting (its arrival raised nothing). */
        taskENTER_CRITICAL();
        UART_CTRL |= CTRL_RX_INT_EN;
        prvDrainUart();
        taskEXIT_CRITICAL();
    }

    return xCount;
}

uint32_t ulUartRingHighWater( void )
{
    return ulHighWater;
}
