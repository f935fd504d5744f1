/*
 * Start-up of the MPS2 AN386 board: the vector table (Cortex-M4 exceptions and
 * the board's interrupts that the firmware uses), the reset handler and a
 * fault handler that reports where the core faulted and ends the run with a
 * failure status (a silent hang would only show as a test timeout).
 */
#include <stdint.h>

#include "board.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main( void );

extern void vPortSVCHandler( void );
extern void xPortPendSVHandler( void );
extern void xPortSysTickHandler( void );

void Reset_Handler( void );
void Fault_Handler( void );
void vBoardFaultReport( const uint32_t * pulFrame, uint32_t ulExcReturn );

void Reset_Handler( void )
{
    uint32_t * pulSrc = &_sidata;
    uint32_t * pulDst;

    for( pulDst = &_sdata; pulDst < &_edata; )
    {
        *pulDst++ = *pulSrc++;
    }

    for( pulDst = &_sbss; pulDst < &_ebss; )
    {
        *pulDst++ = 0;
    }

    /* CP10 and CP11 full access (SCB->CPACR): hard-float code may touch the
     * FPU before the scheduler's own prvEnableVFP(). */
    *( volatile uint32_t * ) 0xE000ED88UL |= ( 0xFUL << 20 );
    /* A usage fault on division by zero (SCB->CCR DIV_0_TRP). Unaligned
     * word and halfword accesses stay legal, as on every Cortex-M4 (newlib and
     * rustc use them); unaligned LDRD/STRD/LDM fault regardless. */
    *( volatile uint32_t * ) 0xE000ED14UL |= ( 1UL << 4 );
    /* Separate MemManage, BusFault and UsageFault handlers (SCB->SHCSR), so
     * the report names the kind of fault. */
    *( volatile uint32_t * ) 0xE000ED24UL |= ( 1UL << 16 ) | ( 1UL << 17 ) | ( 1UL << 18 );
    __asm volatile ( "dsb\n isb" );

    vBoardInit();
    vBoardExit( ( uint32_t ) main() );
}

/* Passes the stacked exception frame (MSP or PSP, from EXC_RETURN bit 2). */
__attribute__( ( naked ) ) void Fault_Handler( void )
{
    __asm volatile (
        "tst lr, #4        \n"
        "ite eq            \n"
        "mrseq r0, msp     \n"
        "mrsne r0, psp     \n"
        "mov r1, lr        \n"
        "b vBoardFaultReport \n"
        );
}

void vBoardUnexpectedInterrupt( void );
void vBoardUnexpectedInterrupt( void )
{
    vBoardPanic( "unexpected interrupt", *( volatile uint32_t * ) 0xE000ED04UL & 0x1FFUL );
}

/* A firmware without the UART port (tests/qemu's boot test) has no UART
 * handler: its interrupt is then unexpected. */
void vBoardUart1RxHandler( void ) __attribute__( ( weak, alias( "vBoardUnexpectedInterrupt" ) ) );

typedef void ( * Vector_t )( void );

/* Cortex-M4 exceptions, then the AN386 image's interrupts 0–31 (QEMU's
 * mps2-an386: UART0 RX/TX 0/1, UART1 RX/TX 2/3, UART2 4/5, GPIO 6/7,
 * timer 0 8, timer 1 9, dual timer 10, ...). */
__attribute__( ( section( ".isr_vector" ), used ) )
const Vector_t g_pfnVectors[ 16 + 32 ] =
{
    ( Vector_t ) &_estack,
    Reset_Handler,
    Fault_Handler,         /* NMI */
    Fault_Handler,         /* HardFault */
    Fault_Handler,         /* MemManage */
    Fault_Handler,         /* BusFault */
    Fault_Handler,         /* UsageFault */
    0, 0, 0, 0,
    vPortSVCHandler,
    vBoardUnexpectedInterrupt, /* DebugMon */
    0,
    xPortPendSVHandler,
    xPortSysTickHandler,
    vBoardUnexpectedInterrupt, /* IRQ 0 */
    vBoardUnexpectedInterrupt, /* IRQ 1 */
    vBoardUart1RxHandler, /* IRQ 2 */
    vBoardUnexpectedInterrupt, /* IRQ 3 */
    vBoardUnexpectedInterrupt, /* IRQ 4 */
    vBoardUnexpectedInterrupt, /* IRQ 5 */
    vBoardUnexpectedInterrupt, /* IRQ 6 */
    vBoardUnexpectedInterrupt, /* IRQ 7 */
    vBoardTimer0Handler, /* IRQ 8 */
    vBoardUnexpectedInterrupt, /* IRQ 9 */
    vBoardUnexpectedInterrupt, /* IRQ 10 */
    vBoardUnexpectedInterrupt, /* IRQ 11 */
    vBoardUnexpectedInterrupt, /* IRQ 12 */
    vBoardUnexpectedInterrupt, /* IRQ 13 */
    vBoardUnexpectedInterrupt, /* IRQ 14 */
    vBoardUnexpectedInterrupt, /* IRQ 15 */
    vBoardUnexpectedInterrupt, /* IRQ 16 */
    vBoardUnexpectedInterrupt, /* IRQ 17 */
    vBoardUnexpectedInterrupt, /* IRQ 18 */
    vBoardUnexpectedInterrupt, /* IRQ 19 */
    vBoardUnexpectedInterrupt, /* IRQ 20 */
    vBoardUnexpectedInterrupt, /* IRQ 21 */
    vBoardUnexpectedInterrupt, /* IRQ 22 */
    vBoardUnexpectedInterrupt, /* IRQ 23 */
    vBoardUnexpectedInterrupt, /* IRQ 24 */
    vBoardUnexpectedInterrupt, /* IRQ 25 */
    vBoardUnexpectedInterrupt, /* IRQ 26 */
    vBoardUnexpectedInterrupt, /* IRQ 27 */
    vBoardUnexpectedInterrupt, /* IRQ 28 */
    vBoardUnexpectedInterrupt, /* IRQ 29 */
    vBoardUnexpectedInterrupt, /* IRQ 30 */
    vBoardUnexpectedInterrupt, /* IRQ 31 */
};
