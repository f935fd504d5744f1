/*
 * FreeRTOS configuration of the MPS2 AN386 board (Cortex-M4F, 25 MHz system
 * clock, QEMU mps2-an386): the ARM_CM4F port, heap_4, stack overflow checks,
 * and run-time statistics from CMSDK timer 0 (see ../board.c).
 */
#ifndef FREERTOS_CONFIG_H
#define FREERTOS_CONFIG_H

#include <stdint.h>

#define configCPU_CLOCK_HZ                         ( 25000000UL )
#define configTICK_RATE_HZ                         ( 1000 )
#define configUSE_PREEMPTION                       1
#define configUSE_TIME_SLICING                     1
#define configUSE_PORT_OPTIMISED_TASK_SELECTION    1
#define configUSE_IDLE_HOOK                        0
#define configUSE_TICK_HOOK                        0
#define configMAX_PRIORITIES                       ( 7 )
/* Words. The demos give their tasks twice this (2 KB): printf and the AFR API
 * calls fit, with room measured by the exit report. */
#define configMINIMAL_STACK_SIZE                   ( ( uint16_t ) 256 )
/* heap_4. The board has 4 MB of RAM; a device has far less, so the figures
 * report the minimum ever free, not this size. */
#define configTOTAL_HEAP_SIZE                      ( ( size_t ) ( 192 * 1024 ) )
#define configMAX_TASK_NAME_LEN                    ( 16 )
#define configUSE_TRACE_FACILITY                   1
#define configTICK_TYPE_WIDTH_IN_BITS              TICK_TYPE_WIDTH_32_BITS
#define configUSE_MUTEXES                          1
#define configUSE_RECURSIVE_MUTEXES                1
#define configUSE_COUNTING_SEMAPHORES              1
#define configUSE_TASK_NOTIFICATIONS               1
#define configQUEUE_REGISTRY_SIZE                  0
#define configCHECK_FOR_STACK_OVERFLOW             2 /* vApplicationStackOverflowHook: report, exit non-zero */
#define configUSE_MALLOC_FAILED_HOOK               1 /* vApplicationMallocFailedHook: report, exit non-zero */
#define configSUPPORT_DYNAMIC_ALLOCATION           1
#define configSUPPORT_STATIC_ALLOCATION            0
#define configUSE_CO_ROUTINES                      0
#define configUSE_TIMERS                           1
#define configTIMER_TASK_PRIORITY                  ( configMAX_PRIORITIES - 1 )
#define configTIMER_QUEUE_LENGTH                   10
#define configTIMER_TASK_STACK_DEPTH               ( configMINIMAL_STACK_SIZE * 2 )
#define configRECORD_STACK_HIGH_ADDRESS            1

/* Run-time statistics: CMSDK timer 0 counts the 25 MHz system clock. Under
 * QEMU with -icount shift=0 (one instruction per virtual nanosecond) one count
 * is 40 instructions, so a task's counter × 40 is the instructions it ran. */
#define configGENERATE_RUN_TIME_STATS              1
#define configRUN_TIME_COUNTER_TYPE                uint64_t
void vBoardRunTimeTimerInit( void );
uint64_t ullBoardRunTimeCounter( void );
#define portCONFIGURE_TIMER_FOR_RUN_TIME_STATS()    vBoardRunTimeTimerInit()
#define portGET_RUN_TIME_COUNTER_VALUE()            ullBoardRunTimeCounter()

#define INCLUDE_vTaskPrioritySet                   1
#define INCLUDE_uxTaskPriorityGet                  1
#define INCLUDE_vTaskDelete                        1
#define INCLUDE_vTaskSuspend                       1
#define INCLUDE_vTaskDelayUntil                    1
#define INCLUDE_vTaskDelay                         1
#define INCLUDE_xTaskGetSchedulerState             1
#define INCLUDE_xTaskGetCurrentTaskHandle          1
#define INCLUDE_uxTaskGetStackHighWaterMark        1
#define INCLUDE_xTaskGetIdleTaskHandle             1
#define INCLUDE_eTaskGetState                      1
#define INCLUDE_xTaskGetHandle                     1

/* As the ARM_CM4F port checks at start-up on this board (QEMU's NVIC), with
 * 4 priority bits. Interrupts that call FreeRTOS (the UART's) run at or below
 * configMAX_SYSCALL_INTERRUPT_PRIORITY (numerically at or above 5). */
#define configPRIO_BITS                            4
#define configLIBRARY_LOWEST_INTERRUPT_PRIORITY     15
#define configLIBRARY_MAX_SYSCALL_INTERRUPT_PRIORITY 5
#define configKERNEL_INTERRUPT_PRIORITY            ( configLIBRARY_LOWEST_INTERRUPT_PRIORITY << ( 8 - configPRIO_BITS ) )
#define configMAX_SYSCALL_INTERRUPT_PRIORITY       ( configLIBRARY_MAX_SYSCALL_INTERRUPT_PRIORITY << ( 8 - configPRIO_BITS ) )

#define configPLATFORM_NAME                        "MPS2-AN386"

extern void vAssertCalled( const char * pcFile, unsigned long ulLine );
#define configASSERT( x )    if( ( x ) == 0 ) vAssertCalled( __FILE__, __LINE__ )

#endif /* FREERTOS_CONFIG_H */
