/*
 * Board support of the MPS2 AN386 (QEMU mps2-an386) for the firmware in this
 * directory: see README.md.
 */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Before main(): semihosting console, the environment from the command line,
 * the run-time counter. */
void vBoardInit( void );

/* Ends the run: prints the exit report (tasks' stack high-water marks and
 * run time, heap minimum ever free) when the scheduler runs, then exits
 * QEMU with ulStatus through semihosting. exit() ends up here. */
void vBoardExit( uint32_t ulStatus ) __attribute__( ( noreturn ) );

/* A fatal error: message, value, exit status 70. */
void vBoardPanic( const char * pcWhat, uint32_t ulValue ) __attribute__( ( noreturn ) );

/* Writes text to the semihosting console (no formatting, any context). */
void vBoardWrite( const char * pcText, size_t xLength );

/* Prints one "board-figure: <name> <value>" line, for scripts that collect
 * figures (scripts/qemu-figures.sh). */
void vBoardFigure( const char * pcName, uint64_t ullValue );

/* The run-time counter (CMSDK timer 0, 25 MHz). */
uint64_t ullBoardRunTimeCounter( void );

/* The run-time counter of the task named pcName, 0 when there is none. */
uint64_t ullBoardTaskRunTime( const char * pcName );

/* Lines of the exit report from the network port (weak: none without one). */
void vBoardNetworkReport( void );

/* Interrupt handlers (startup.c's vector table). */
void vBoardUart1RxHandler( void );
void vBoardTimer0Handler( void );

#endif /* BOARD_H */
