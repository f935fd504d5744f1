/*
 * What both benchmark programs share, so that afr-cloud's agent (bench_afr.c,
 * 32-bit FreeRTOS POSIX simulator) and libmosquitto (bench_mosquitto.c,
 * native) run exactly the same workloads with the same counts, topics,
 * payloads and statistics.
 *
 * Workloads (every publish waits for its completion before the next one from
 * the same task: QoS 0 once written, QoS 1 at PUBACK, QoS 2 at PUBCOMP):
 *   rate/qQ/tT/P   publishes per second, QoS Q, T tasks (threads) sharing one
 *                  client, P-byte payloads, to a topic nobody subscribes to;
 *                  median of BENCH_REPS repetitions
 *   rtt/qQ/P       round trip: publish -> the client's own subscription
 *                  callback (subscribed at QoS Q), one message at a time;
 *                  p50, p99, max in microseconds
 *
 * Results go to stdout as lines "RESULT,<impl>,<workload>,<metric>,<value>",
 * which benches/agent/report.py turns into the table and the CSV. Progress
 * goes to stderr. Time: CLOCK_MONOTONIC (simulator ticks run slow).
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_REPS           ( 3 )
#define BENCH_MAX_TASKS      ( 4 )
#define BENCH_MAX_PAYLOAD    ( 4096 )
#define BENCH_MAX_SAMPLES    ( 4000 )
/* "slow_pct": the share of publish calls (rate workloads) or round trips
 * taking longer than this: half a simulator tick, i.e. the agent waited for a
 * tick instead of finding the answer when it looked. */
#define BENCH_SLOW_SECONDS   ( 500e-6 )

/* Counts and time limits; --smoke shrinks them to a quick functional run. */
typedef struct
{
    int iRateMessages[ 3 ]; /* per repetition, by QoS */
    double dRateCapSeconds; /* a repetition stops early past this */
    int iWarmup;            /* messages before each workload, not measured */
    int iRttSamples;
    double dRttCapSeconds;
    int iWakeSamples; /* afr-cloud only: wake-up in ticks */
    int iHandoffPublishes; /* afr-cloud only: publishes per hand-off count */
    int iHandoffIdleMs;    /* afr-cloud only: idle window for the background rate */
} BenchParams_t;

static inline BenchParams_t xBenchParams( int iSmoke )
{
    BenchParams_t x;

    if( iSmoke )
    {
        x.iRateMessages[ 0 ] = 40;
        x.iRateMessages[ 1 ] = 20;
        x.iRateMessages[ 2 ] = 20;
        x.dRateCapSeconds = 1.0;
        x.iWarmup = 2;
        x.iRttSamples = 20;
        x.dRttCapSeconds = 1.0;
        x.iWakeSamples = 10;
        x.iHandoffPublishes = 20;
        x.iHandoffIdleMs = 20;
    }
    else
    {
        x.iRateMessages[ 0 ] = 30000;
        x.iRateMessages[ 1 ] = 4000;
        x.iRateMessages[ 2 ] = 3000;
        x.dRateCapSeconds = 1.5;
        x.iWarmup = 50;
        x.iRttSamples = 2000;
        x.dRttCapSeconds = 4.0;
        x.iWakeSamples = 500;
        x.iHandoffPublishes = 1000;
        x.iHandoffIdleMs = 500;
    }

    return x;
}

static const int iBenchQoS[] = { 0, 1, 2 };
static const int iBenchTasks[] = { 1, 4 };
static const int iBenchPayloads[] = { 64, 4096 };
static const int iBenchRttQoS[] = { 0, 1 };

#define BENCH_COUNT( a )    ( ( int ) ( sizeof( a ) / sizeof( ( a )[ 0 ] ) ) )

/* Command line of both programs: [--smoke] [--only SUBSTRING] (run only the
 * workloads whose key contains SUBSTRING: for profiling one workload). */
static inline int iBenchArgs( int argc,
                              char ** argv,
                              const char ** ppcOnly )
{
    int iSmoke = 0;

    *ppcOnly = NULL;

    for( int i = 1; i < argc; i++ )
    {
        if( strcmp( argv[ i ], "--smoke" ) == 0 )
        {
            iSmoke = 1;
        }
        else if( ( strcmp( argv[ i ], "--only" ) == 0 ) && ( i + 1 < argc ) )
        {
            *ppcOnly = argv[ ++i ];
        }
        else
        {
            fprintf( stderr, "usage: %s [--smoke] [--only SUBSTRING]\n", argv[ 0 ] );
            exit( 2 );
        }
    }

    return iSmoke;
}

static inline int iBenchSelected( const char * pcOnly,
                                  const char * pcKey )
{
    return ( pcOnly == NULL ) || ( strstr( pcKey, pcOnly ) != NULL );
}

static inline double dBenchNow( void )
{
    struct timespec xTs;

    clock_gettime( CLOCK_MONOTONIC, &xTs );
    return ( double ) xTs.tv_sec + ( double ) xTs.tv_nsec * 1e-9;
}

static inline void vBenchKey( char * pcOut,
                              size_t xSize,
                              const char * pcKind,
                              int iQoS,
                              int iTasks,
                              int iPayload )
{
    if( iTasks > 0 )
    {
        snprintf( pcOut, xSize, "%s/q%d/t%d/%d", pcKind, iQoS, iTasks, iPayload );
    }
    else
    {
        snprintf( pcOut, xSize, "%s/q%d/%d", pcKind, iQoS, iPayload );
    }
}

static inline void vBenchResult( const char * pcImpl,
                                 const char * pcKey,
                                 const char * pcMetric,
                                 double dValue )
{
    printf( "RESULT,%s,%s,%s,%.3f\n", pcImpl, pcKey, pcMetric, dValue );
    fflush( stdout );
}

static inline int iBenchCompare( const void * a,
                                 const void * b )
{
    double x = *( const double * ) a;
    double y = *( const double * ) b;

    return ( x > y ) - ( x < y );
}

/* Nearest-rank percentile of n sorted values. */
static inline double dBenchPercentile( const double * pdSorted,
                                       int n,
                                       double dP )
{
    int i;

    if( n <= 0 )
    {
        return 0.0;
    }

    i = ( int ) ( dP / 100.0 * ( double ) n + 0.999999 ) - 1;

    if( i < 0 )
    {
        i = 0;
    }

    if( i >= n )
    {
        i = n - 1;
    }

    return pdSorted[ i ];
}

static inline double dBenchMedian3( const double * pd,
                                    int n )
{
    double d[ BENCH_REPS ];

    memcpy( d, pd, sizeof( double ) * ( size_t ) n );
    qsort( d, ( size_t ) n, sizeof( double ), iBenchCompare );
    return d[ n / 2 ];
}

/* Reports a round-trip workload: sorts the samples (seconds). */
static inline void vBenchReportRtt( const char * pcImpl,
                                    const char * pcKey,
                                    double * pdSamples,
                                    int n,
                                    int iErrors )
{
    qsort( pdSamples, ( size_t ) n, sizeof( double ), iBenchCompare );
    vBenchResult( pcImpl, pcKey, "samples", n );
    vBenchResult( pcImpl, pcKey, "errors", iErrors );
    vBenchResult( pcImpl, pcKey, "p50_us", dBenchPercentile( pdSamples, n, 50 ) * 1e6 );
    vBenchResult( pcImpl, pcKey, "p99_us", dBenchPercentile( pdSamples, n, 99 ) * 1e6 );
    vBenchResult( pcImpl, pcKey, "max_us", n > 0 ? pdSamples[ n - 1 ] * 1e6 : 0.0 );

    int iSlow = 0;

    for( int i = 0; i < n; i++ )
    {
        iSlow += ( pdSamples[ i ] > BENCH_SLOW_SECONDS ) ? 1 : 0;
    }

    vBenchResult( pcImpl, pcKey, "slow_pct", n > 0 ? 100.0 * iSlow / n : 0.0 );
}

/* Payload of message iSeq: the sequence number, then a fixed pattern. */
static inline void vBenchFillPayload( uint8_t * pucBuf,
                                      int iLength,
                                      uint32_t ulSeq )
{
    for( int i = 4; i < iLength; i++ )
    {
        pucBuf[ i ] = ( uint8_t ) ( 'a' + ( i % 26 ) );
    }

    memcpy( pucBuf, &ulSeq, sizeof( ulSeq ) );
}

static inline uint32_t ulBenchPayloadSeq( const void * pvData,
                                          uint32_t ulLength )
{
    uint32_t ulSeq = UINT32_MAX;

    if( ulLength >= sizeof( ulSeq ) )
    {
        memcpy( &ulSeq, pvData, sizeof( ulSeq ) );
    }

    return ulSeq;
}

#endif /* BENCH_COMMON_H */
