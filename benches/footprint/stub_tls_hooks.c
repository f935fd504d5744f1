/*
 * Stub TLS hooks for the footprint images (mqttconfigTLS_TIME_FXN and
 * mqttconfigTLS_RANDOM_FXN in config/aws_mqtt_agent_config.h). Linked into
 * every image, the baseline too, as a product has its RTC/SNTP clock and its
 * TRNG driver anyway: they are no part of the library's share.
 *
 * NOT FOR USE ON A DEVICE: the "time" is derived from the tick count and the
 * "random" bytes are a xorshift sequence, neither secure nor even correct.
 * They exist only so that the TLS images link with the hooks a real project
 * would provide, and about the size such hooks would be; the images are a
 * size measurement and never run a handshake.
 */
#include <stddef.h>
#include <stdint.h>

#include "FreeRTOS.h"
#include "task.h"

BaseType_t xFootprintTlsGetTime( uint64_t * pullUnixSeconds );
BaseType_t xFootprintTlsGetRandom( uint8_t * pucBuffer,
                                   size_t xLength );

/* 2024-01-01T00:00:00Z plus the seconds since the scheduler started. */
BaseType_t xFootprintTlsGetTime( uint64_t * pullUnixSeconds )
{
    *pullUnixSeconds = 1704067200ULL + ( uint64_t ) ( xTaskGetTickCount() / configTICK_RATE_HZ );
    return pdTRUE;
}

/* xorshift32 seeded from the tick count: NOT random, a stand-in for a TRNG. */
BaseType_t xFootprintTlsGetRandom( uint8_t * pucBuffer,
                                   size_t xLength )
{
    static uint32_t ulState = 0x9E3779B9UL;
    size_t x;

    ulState ^= ( uint32_t ) xTaskGetTickCount();

    for( x = 0; x < xLength; x++ )
    {
        ulState ^= ulState << 13;
        ulState ^= ulState >> 17;
        ulState ^= ulState << 5;
        pucBuffer[ x ] = ( uint8_t ) ulState;
    }

    return pdTRUE;
}
