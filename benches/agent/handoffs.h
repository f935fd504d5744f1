/*
 * Hand-off counters of the agent benchmark (bench_agent_afr and its variants
 * only): how many critical sections, scheduler suspensions, yields and task
 * switches the simulator performs, so that bench_afr.c can report them per
 * publish ("handoffs/" workloads).
 *
 * Two mechanisms, neither of which changes the library, the kernel's logic or
 * the Secure Sockets port (they only count):
 * - kernel trace hooks (config_trace/FreeRTOSConfig.h, the kernel of the
 *   benchmark build only): task switches (traceTASK_SWITCHED_IN, total and
 *   those where the running task changes, per task), scheduler suspensions
 *   (traceENTER_vTaskSuspendAll) and ticks (traceTASK_INCREMENT_TICK);
 *   handoffs_trace.c, compiled into that kernel;
 * - link-time wrappers (-Wl,--wrap, handoffs_wrap.c, the benchmark programs
 *   only) around the POSIX port's vPortEnterCritical (taskENTER_CRITICAL /
 *   portENTER_CRITICAL from the kernel, the library's freertos-rust shim, the
 *   Secure Sockets port and the program), xPortSetInterruptMask
 *   (taskENTER_CRITICAL_FROM_ISR / portSET_INTERRUPT_MASK_FROM_ISR) and
 *   vPortYield (portYIELD / taskYIELD). --wrap sees calls between object
 *   files only: the port's own internal calls (vPortYield's critical section,
 *   task creation) are not counted as critical sections; a yield's is its
 *   own counter.
 * All counters are 32-bit, incremented atomically (a tick signal may
 * interrupt a task in the middle of one); read them as differences.
 */
#ifndef BENCH_HANDOFFS_H
#define BENCH_HANDOFFS_H

#include <stdint.h>

#define HANDOFF_MAX_TASKS    ( 32 )

typedef struct
{
    uint32_t ulCritical;        /* vPortEnterCritical calls (nested ones too) */
    uint32_t ulCriticalFromIsr; /* xPortSetInterruptMask calls */
    uint32_t ulSuspendAll;      /* vTaskSuspendAll calls */
    uint32_t ulYields;          /* vPortYield calls */
    uint32_t ulSwitchesTotal;   /* traceTASK_SWITCHED_IN: every scheduling decision */
    uint32_t ulSwitchesChanged; /* ... where the task to run is not the one that ran */
    uint32_t ulTicks;           /* xTaskIncrementTick calls */
    /* Per task (its TCB, i.e. its TaskHandle_t; unused slots have pvTask
     * NULL): switches that changed the task, by the task switched in; and
     * critical sections, scheduler suspensions and yields, by the task
     * running when they were entered. */
    struct
    {
        void * pvTask;
        uint32_t ulSwitchedIn;
        uint32_t ulCritical;
        uint32_t ulSuspendAll;
        uint32_t ulYields;
    } xTasks[ HANDOFF_MAX_TASKS ];
} HandoffCounts_t;

/* Copies the counters (each read atomically; the set is not one instant). */
void vHandoffSnapshot( HandoffCounts_t * pxOut );

/* pvTask's slot in a snapshot, or -1. */
int iHandoffTaskSlot( const HandoffCounts_t * pxCounts,
                      const void * pvTask );

/* The kernel's hooks (config_trace/FreeRTOSConfig.h). */
void vHandoffTraceSwitchedIn( void * pvTask );
void vHandoffTraceSuspendAll( void * pvTask );
void vHandoffTraceTick( void );

/* The wrappers' counters (handoffs_wrap.c). */
void vHandoffCountCritical( void );
void vHandoffCountCriticalFromIsr( void );
void vHandoffCountYield( void );

#endif /* BENCH_HANDOFFS_H */
