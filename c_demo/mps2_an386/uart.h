/*
 * CMSDK APB UART1 of the MPS2 AN386 (0x40005000, RX interrupt 2): transmit
 * by polling, receive by interrupt into a ring that one task drains.
 */
#ifndef BOARD_UART_H
#define BOARD_UART_H

#include <stddef.h>
#include <stdint.h>

#include "FreeRTOS.h"
#include "task.h"

/* Starts the UART; xReader is the task that is notified (task notification
 * give) whenever received bytes are waiting. Call once, from a task. */
void vUartInit( TaskHandle_t xReader );

/* Writes bytes, waiting while the transmitter is full. Not thread-safe:
 * callers serialise. */
void vUartWrite( const uint8_t * pucData, size_t xLength );

/* Moves up to xMax received bytes to pucData; returns how many (0: none). */
size_t xUartRead( uint8_t * pucData, size_t xMax );

/* Received bytes dropped (never, while the receiver keeps up) and the
 * largest fill of the ring, for the exit report. */
uint32_t ulUartRingHighWater( void );

#endif /* BOARD_UART_H */
