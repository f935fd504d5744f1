/*
 * Startup of the footprint images: the Cortex-M4F core vectors, with the
 * FreeRTOS ARM_CM4F port's SVC, PendSV and SysTick handlers, and a reset
 * handler that copies .data, zeroes .bss, enables the FPU and calls main().
 * No vendor IRQs: the images only have to link (and could boot) the same way.
 * Also FreeRTOSConfig.h's configASSERT hook, vAssertCalled.
 */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main( void );

extern void vPortSVCHandler( void );
extern void xPortPendSVHandler( void );
extern void xPortSysTickHandler( void );

void Reset_Handler( void );
void vAssertCalled( const char * pcFile,
                    unsigned long ulLine );

void vAssertCalled( const char * pcFile,
                    unsigned long ulLine )
{
    ( void ) pcFile;
    ( void ) ulLine;
    __asm volatile ( "cpsid i" );

    for( ; ; )
    {
    }
}

void Default_Handler( void )
{
    for( ; ; )
    {
    }
}

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

    /* CP10 and CP11 full access (SCB->CPACR): hard-float code may touch the FPU
     * before the scheduler's own prvEnableVFP(). */
    *( volatile uint32_t * ) 0xE000ED88UL |= ( 0xFUL << 20 );
    __asm volatile ( "dsb\n isb" );

    ( void ) main();

    for( ; ; )
    {
    }
}

typedef void ( * Vector_t )( void );

__attribute__( ( section( ".isr_vector" ), used ) )
const Vector_t g_pfnVectors[ 16 ] =
{
    ( Vector_t ) &_estack,
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    0, 0, 0, 0,
    vPortSVCHandler,
    Default_Handler, /* DebugMon */
    0,
    xPortPendSVHandler,
    xPortSysTickHandler,
};
