/*
 * Link-time wrappers (-Wl,--wrap=..., the benchmark programs only) that count
 * the POSIX port's critical sections and yields before doing exactly what the
 * port does (see handoffs.h).
 */
#include "FreeRTOS.h"

#include "handoffs.h"

void __real_vPortEnterCritical( void );
void __wrap_vPortEnterCritical( void );
UBaseType_t __real_xPortSetInterruptMask( void );
UBaseType_t __wrap_xPortSetInterruptMask( void );
void __real_vPortYield( void );
void __wrap_vPortYield( void );

void __wrap_vPortEnterCritical( void )
{
    vHandoffCountCritical();
    __real_vPortEnterCritical();
}

UBaseType_t __wrap_xPortSetInterruptMask( void )
{
    vHandoffCountCriticalFromIsr();
    return __real_xPortSetInterruptMask();
}

void __wrap_vPortYield( void )
{
    vHandoffCountYield();
    __real_vPortYield();
}
