/*
 * The kernel configuration of the agent benchmark's build only
 * (benches/agent/CMakeLists.txt gives it to the kernel library): the demos'
 * (c_demo/config, the same settings as every other simulator build) plus
 * trace hooks that count task switches, scheduler suspensions and ticks for
 * the "handoffs/" workloads (see ../handoffs.h). They count and do nothing
 * else. The library and the benchmark programs are built with
 * ../config/FreeRTOSConfig.h, i.e. the demos' config without hooks.
 */
#ifndef BENCH_TRACE_FREERTOS_CONFIG_H
#define BENCH_TRACE_FREERTOS_CONFIG_H

#include "../../../c_demo/config/FreeRTOSConfig.h"
#include "../handoffs.h"

/* pxCurrentTCB: the task just selected (tasks.c, single core). */
#define traceTASK_SWITCHED_IN()                 vHandoffTraceSwitchedIn( ( void * ) pxCurrentTCB )
#define traceENTER_vTaskSuspendAll()            vHandoffTraceSuspendAll( ( void * ) pxCurrentTCB )
#define traceTASK_INCREMENT_TICK( xTickCount )    vHandoffTraceTick()

#endif /* BENCH_TRACE_FREERTOS_CONFIG_H */
