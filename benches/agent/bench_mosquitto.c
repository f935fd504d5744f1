/*
 * Agent benchmark, reference side: libmosquitto (Debian's libmosquitto-dev),
 * native, driven the way the AFR agent API is used: one message at a time per
 * thread, each publish waiting for libmosquitto's publish callback (QoS 0:
 * written; QoS 1: PUBACK; QoS 2: PUBCOMP) before the next. Its network thread
 * (mosquitto_loop_start) plays the agent task's part; publishing threads wait
 * on a condition variable. Same workloads, counts and output as bench_afr.c
 * (see bench_common.h). TCP_NODELAY is on, as in the simulator's socket port.
 *
 *   bench_agent_mosquitto [--smoke] [--only SUBSTRING]   (broker: 127.0.0.1:$AFR_TEST_BROKER_PORT)
 *
 * Heap: malloc, free and friends are wrapped (glibc's __libc_* underneath) to
 * count the bytes in use (malloc_usable_size), for a peak comparable in
 * spirit to the FreeRTOS heap's; thread stacks are mmap'd and not included.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "bench_common.h"

#define IMPL             "mosquitto"
#define CALL_TIMEOUT_S   ( 5.0 )
#define ECHO_TIMEOUT_S   ( 2.0 )
#define RATE_TOPIC       "bench/lib/rate"
#define RTT_TOPIC        "bench/lib/rtt"

/*--------------------------------------------------------- heap accounting */

extern void * __libc_malloc( size_t );
extern void __libc_free( void * );
extern void * __libc_calloc( size_t,
                             size_t );
extern void * __libc_realloc( void *,
                              size_t );
extern void * __libc_memalign( size_t,
                               size_t );

static long lHeapInUse;
static long lHeapPeak;

static void * prvCounted( void * p )
{
    if( p != NULL )
    {
        long lNow = __atomic_add_fetch( &lHeapInUse, ( long ) malloc_usable_size( p ), __ATOMIC_RELAXED );
        long lPeak = __atomic_load_n( &lHeapPeak, __ATOMIC_RELAXED );

        while( lNow > lPeak &&
               !__atomic_compare_exchange_n( &lHeapPeak, &lPeak, lNow, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED ) )
        {
        }
    }

    return p;
}

static void prvUncount( void * p )
{
    if( p != NULL )
    {
        __atomic_sub_fetch( &lHeapInUse, ( long ) malloc_usable_size( p ), __ATOMIC_RELAXED );
    }
}

void * malloc( size_t n )
{
    return prvCounted( __libc_malloc( n ) );
}

void free( void * p )
{
    prvUncount( p );
    __libc_free( p );
}

void * calloc( size_t n,
               size_t m )
{
    return prvCounted( __libc_calloc( n, m ) );
}

void * realloc( void * pOld,
                size_t n )
{
    long lOld = pOld != NULL ? ( long ) malloc_usable_size( pOld ) : 0;
    void * p = __libc_realloc( pOld, n );

    if( ( p != NULL ) || ( n == 0 ) )
    {
        __atomic_sub_fetch( &lHeapInUse, lOld, __ATOMIC_RELAXED );
        prvCounted( p );
    }

    return p;
}

void * memalign( size_t a,
                 size_t n )
{
    return prvCounted( __libc_memalign( a, n ) );
}

void * aligned_alloc( size_t a,
                      size_t n )
{
    return prvCounted( __libc_memalign( a, n ) );
}

int posix_memalign( void ** pp,
                    size_t a,
                    size_t n )
{
    void * p = __libc_memalign( a, n );

    if( p == NULL )
    {
        return ENOMEM;
    }

    *pp = prvCounted( p );
    return 0;
}

void * valloc( size_t n )
{
    return prvCounted( __libc_memalign( 4096, n ) );
}

void * pvalloc( size_t n )
{
    return prvCounted( __libc_memalign( 4096, ( n + 4095 ) & ~( size_t ) 4095 ) );
}

static long lWorkloadPeakMax;

static void prvHeapWorkloadStart( void )
{
    __atomic_store_n( &lHeapPeak, __atomic_load_n( &lHeapInUse, __ATOMIC_RELAXED ), __ATOMIC_RELAXED );
}

static void prvHeapWorkloadEnd( const char * pcKey )
{
    long lPeak = __atomic_load_n( &lHeapPeak, __ATOMIC_RELAXED );

    if( lPeak > lWorkloadPeakMax )
    {
        lWorkloadPeakMax = lPeak;
    }

    vBenchResult( IMPL, pcKey, "heap_peak_bytes", ( double ) lPeak );
}

/*----------------------------------------------------------- client state */

static BenchParams_t xParams;
static const char * pcOnly;
static struct mosquitto * pxMosq;
static pthread_mutex_t xLock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t xChanged;
static int iConnected;              /* 1 connected, -1 refused */
static unsigned char ucDone[ 65536 ]; /* by message id: acknowledged/written */
static uint32_t ulExpectSeq = UINT32_MAX;
static uint32_t ulExpectLength;
static int iEchoSeen;
static double dEchoTime;

static void prvFatal( const char * pcWhat,
                      int iCode )
{
    fprintf( stderr, "bench_agent_mosquitto: %s failed (%d: %s)\n", pcWhat, iCode, mosquitto_strerror( iCode ) );
    exit( 1 );
}

static void prvDeadline( struct timespec * pxTs,
                         double dSeconds )
{
    clock_gettime( CLOCK_MONOTONIC, pxTs );
    pxTs->tv_sec += ( time_t ) dSeconds;
    pxTs->tv_nsec += ( long ) ( ( dSeconds - ( double ) ( time_t ) dSeconds ) * 1e9 );

    if( pxTs->tv_nsec >= 1000000000L )
    {
        pxTs->tv_sec++;
        pxTs->tv_nsec -= 1000000000L;
    }
}

static void prvOnConnect( struct mosquitto * m,
                          void * pv,
                          int rc )
{
    ( void ) m;
    ( void ) pv;
    pthread_mutex_lock( &xLock );
    iConnected = ( rc == 0 ) ? 1 : -1;
    pthread_cond_broadcast( &xChanged );
    pthread_mutex_unlock( &xLock );
}

static void prvMidDone( int iMid )
{
    pthread_mutex_lock( &xLock );
    ucDone[ iMid & 0xFFFF ] = 1;
    pthread_cond_broadcast( &xChanged );
    pthread_mutex_unlock( &xLock );
}

static void prvOnPublish( struct mosquitto * m,
                          void * pv,
                          int iMid )
{
    ( void ) m;
    ( void ) pv;
    prvMidDone( iMid );
}

static void prvOnSubscribe( struct mosquitto * m,
                            void * pv,
                            int iMid,
                            int n,
                            const int * piGranted )
{
    ( void ) m;
    ( void ) pv;
    ( void ) n;
    ( void ) piGranted;
    prvMidDone( iMid );
}

static void prvOnUnsubscribe( struct mosquitto * m,
                              void * pv,
                              int iMid )
{
    ( void ) m;
    ( void ) pv;
    prvMidDone( iMid );
}

static void prvOnMessage( struct mosquitto * m,
                          void * pv,
                          const struct mosquitto_message * pxMsg )
{
    ( void ) m;
    ( void ) pv;
    pthread_mutex_lock( &xLock );

    if( ( ( uint32_t ) pxMsg->payloadlen == ulExpectLength ) &&
        ( ulBenchPayloadSeq( pxMsg->payload, ( uint32_t ) pxMsg->payloadlen ) == ulExpectSeq ) )
    {
        dEchoTime = dBenchNow();
        iEchoSeen = 1;
        ulExpectSeq = UINT32_MAX;
        pthread_cond_broadcast( &xChanged );
    }

    pthread_mutex_unlock( &xLock );
}

/* Waits for message id iMid to complete (and, with piEcho, for the echo). */
static int prvWait( int iMid,
                    const int * piEcho,
                    double dSeconds )
{
    struct timespec xUntil;
    int iOk = 1;

    prvDeadline( &xUntil, dSeconds );
    pthread_mutex_lock( &xLock );

    while( !ucDone[ iMid ] || ( ( piEcho != NULL ) && !*piEcho ) )
    {
        if( pthread_cond_timedwait( &xChanged, &xLock, &xUntil ) == ETIMEDOUT )
        {
            iOk = 0;
            break;
        }
    }

    ucDone[ iMid ] = 0;
    pthread_mutex_unlock( &xLock );
    return iOk;
}

/*----------------------------------------------------------- publisher threads */

static struct
{
    int iQoS;
    int iPayload;
    int iCount;
    double dDeadline;
    int iNext;
    int iDone;
    int iErrors;
    int iSlow; /* publish calls longer than BENCH_SLOW_SECONDS */
} xJob;

static uint8_t ucPayloads[ BENCH_MAX_TASKS ][ BENCH_MAX_PAYLOAD ];

static void * prvPublisherThread( void * pv )
{
    uint8_t * pucPayload = ucPayloads[ ( intptr_t ) pv ];

    for( ; ; )
    {
        int iSeq;
        int iMid = 0;

        if( ( xJob.dDeadline > 0.0 ) && ( dBenchNow() > xJob.dDeadline ) )
        {
            break;
        }

        pthread_mutex_lock( &xLock );
        iSeq = xJob.iNext < xJob.iCount ? xJob.iNext++ : -1;
        pthread_mutex_unlock( &xLock );

        if( iSeq < 0 )
        {
            break;
        }

        vBenchFillPayload( pucPayload, xJob.iPayload, ( uint32_t ) iSeq );
        double dCall = dBenchNow();
        int iRc = mosquitto_publish( pxMosq, &iMid, RATE_TOPIC, xJob.iPayload, pucPayload, xJob.iQoS, false );
        int iOk = ( iRc == MOSQ_ERR_SUCCESS ) && prvWait( iMid, NULL, CALL_TIMEOUT_S );
        int iSlow = ( dBenchNow() - dCall ) > BENCH_SLOW_SECONDS;

        pthread_mutex_lock( &xLock );
        xJob.iSlow += iSlow;

        if( iOk )
        {
            xJob.iDone++;
        }
        else
        {
            xJob.iErrors++;
        }

        pthread_mutex_unlock( &xLock );
    }

    return NULL;
}

static double prvRunJob( int iThreads,
                         int iQoS,
                         int iPayload,
                         int iCount,
                         double dCapSeconds )
{
    pthread_t xThreads[ BENCH_MAX_TASKS ];

    xJob.iQoS = iQoS;
    xJob.iPayload = iPayload;
    xJob.iCount = iCount;
    xJob.iNext = 0;
    xJob.iDone = 0;
    xJob.iErrors = 0;
    xJob.iSlow = 0;

    double dStart = dBenchNow();
    xJob.dDeadline = dCapSeconds > 0.0 ? dStart + dCapSeconds : 0.0;

    for( intptr_t t = 0; t < iThreads; t++ )
    {
        if( pthread_create( &xThreads[ t ], NULL, prvPublisherThread, ( void * ) t ) != 0 )
        {
            prvFatal( "pthread_create", MOSQ_ERR_NOMEM );
        }
    }

    for( int t = 0; t < iThreads; t++ )
    {
        pthread_join( xThreads[ t ], NULL );
    }

    return dBenchNow() - dStart;
}

/*---------------------------------------------------------------- workloads */

static void prvRate( int iQoS,
                     int iThreads,
                     int iPayload )
{
    char cKey[ 48 ];
    double dRates[ BENCH_REPS ];
    int iMessages = 0;
    int iSlowCalls = 0;
    int iErrors = 0;

    vBenchKey( cKey, sizeof( cKey ), "rate", iQoS, iThreads, iPayload );

    if( !iBenchSelected( pcOnly, cKey ) )
    {
        return;
    }

    fprintf( stderr, "libmosquitto: %s\n", cKey );
    prvHeapWorkloadStart();
    ( void ) prvRunJob( iThreads, iQoS, iPayload, xParams.iWarmup, 0.0 );

    for( int r = 0; r < BENCH_REPS; r++ )
    {
        double dSeconds = prvRunJob( iThreads, iQoS, iPayload, xParams.iRateMessages[ iQoS ], xParams.dRateCapSeconds );
        char cMetric[ 16 ];

        dRates[ r ] = dSeconds > 0.0 ? ( double ) xJob.iDone / dSeconds : 0.0;
        iMessages += xJob.iDone;
        iSlowCalls += xJob.iSlow;
        iErrors += xJob.iErrors;
        snprintf( cMetric, sizeof( cMetric ), "rep%d", r + 1 );
        vBenchResult( IMPL, cKey, cMetric, dRates[ r ] );
    }

    vBenchResult( IMPL, cKey, "msgs_per_s", dBenchMedian3( dRates, BENCH_REPS ) );
    vBenchResult( IMPL, cKey, "messages", iMessages );
    vBenchResult( IMPL, cKey, "slow_pct", iMessages > 0 ? 100.0 * iSlowCalls / iMessages : 0.0 );
    vBenchResult( IMPL, cKey, "errors", iErrors );
    prvHeapWorkloadEnd( cKey );

    if( iErrors > 0 )
    {
        fprintf( stderr, "libmosquitto: %s: %d publishes failed\n", cKey, iErrors );
    }
}

static void prvSubscribe( int iQoS )
{
    int iMid = 0;
    int iRc = mosquitto_subscribe( pxMosq, &iMid, RTT_TOPIC, iQoS );

    if( ( iRc != MOSQ_ERR_SUCCESS ) || !prvWait( iMid, NULL, CALL_TIMEOUT_S ) )
    {
        prvFatal( "mosquitto_subscribe", iRc );
    }
}

static void prvUnsubscribe( void )
{
    int iMid = 0;
    int iRc = mosquitto_unsubscribe( pxMosq, &iMid, RTT_TOPIC );

    if( ( iRc != MOSQ_ERR_SUCCESS ) || !prvWait( iMid, NULL, CALL_TIMEOUT_S ) )
    {
        prvFatal( "mosquitto_unsubscribe", iRc );
    }
}

/* Publish, then wait for the publish callback and the echo; the round trip in
 * seconds, or a negative value on failure. */
static double prvEcho( int iQoS,
                       uint8_t * pucPayload,
                       int iPayload,
                       uint32_t ulSeq )
{
    int iMid = 0;

    vBenchFillPayload( pucPayload, iPayload, ulSeq );
    pthread_mutex_lock( &xLock );
    ulExpectLength = ( uint32_t ) iPayload;
    ulExpectSeq = ulSeq;
    iEchoSeen = 0;
    pthread_mutex_unlock( &xLock );

    double dStart = dBenchNow();
    int iRc = mosquitto_publish( pxMosq, &iMid, RTT_TOPIC, iPayload, pucPayload, iQoS, false );

    if( ( iRc != MOSQ_ERR_SUCCESS ) || !prvWait( iMid, &iEchoSeen, ECHO_TIMEOUT_S ) )
    {
        pthread_mutex_lock( &xLock );
        ulExpectSeq = UINT32_MAX;
        pthread_mutex_unlock( &xLock );
        return -1.0;
    }

    return dEchoTime - dStart;
}

static double dSamples[ BENCH_MAX_SAMPLES ];
static uint32_t ulNextSeq = 1;

static void prvRoundTrip( int iQoS,
                          int iPayload )
{
    char cKey[ 48 ];
    int n = 0;
    int iErrors = 0;

    vBenchKey( cKey, sizeof( cKey ), "rtt", iQoS, 0, iPayload );

    if( !iBenchSelected( pcOnly, cKey ) )
    {
        return;
    }

    fprintf( stderr, "libmosquitto: %s\n", cKey );
    prvHeapWorkloadStart();
    prvSubscribe( iQoS );

    for( int i = 0; i < xParams.iWarmup; i++ )
    {
        ( void ) prvEcho( iQoS, ucPayloads[ 0 ], iPayload, ulNextSeq++ );
    }

    double dDeadline = dBenchNow() + xParams.dRttCapSeconds;

    while( n < xParams.iRttSamples && n < BENCH_MAX_SAMPLES && dBenchNow() < dDeadline )
    {
        double d = prvEcho( iQoS, ucPayloads[ 0 ], iPayload, ulNextSeq++ );

        if( d >= 0.0 )
        {
            dSamples[ n++ ] = d;
        }
        else
        {
            iErrors++;
        }
    }

    prvUnsubscribe();
    prvHeapWorkloadEnd( cKey );
    vBenchReportRtt( IMPL, cKey, dSamples, n, iErrors );
}

/*--------------------------------------------------------------------- main */

int main( int argc,
          char ** argv )
{
    const char * pcPort = getenv( "AFR_TEST_BROKER_PORT" );
    pthread_condattr_t xAttr;
    struct timespec xUntil;
    int iRc;

    xParams = xBenchParams( iBenchArgs( argc, argv, &pcOnly ) );

    if( pcPort == NULL )
    {
        fprintf( stderr, "bench_agent_mosquitto: AFR_TEST_BROKER_PORT is not set\n" );
        return 1;
    }

    double dRunStart = dBenchNow();

    pthread_condattr_init( &xAttr );
    pthread_condattr_setclock( &xAttr, CLOCK_MONOTONIC );
    pthread_cond_init( &xChanged, &xAttr );

    mosquitto_lib_init();
    pxMosq = mosquitto_new( "bench-mosquitto", true, NULL );

    if( pxMosq == NULL )
    {
        prvFatal( "mosquitto_new", MOSQ_ERR_NOMEM );
    }

    mosquitto_int_option( pxMosq, MOSQ_OPT_TCP_NODELAY, 1 );
    mosquitto_connect_callback_set( pxMosq, prvOnConnect );
    mosquitto_publish_callback_set( pxMosq, prvOnPublish );
    mosquitto_subscribe_callback_set( pxMosq, prvOnSubscribe );
    mosquitto_unsubscribe_callback_set( pxMosq, prvOnUnsubscribe );
    mosquitto_message_callback_set( pxMosq, prvOnMessage );

    if( ( iRc = mosquitto_connect( pxMosq, "127.0.0.1", atoi( pcPort ), 1200 ) ) != MOSQ_ERR_SUCCESS )
    {
        prvFatal( "mosquitto_connect", iRc );
    }

    if( ( iRc = mosquitto_loop_start( pxMosq ) ) != MOSQ_ERR_SUCCESS )
    {
        prvFatal( "mosquitto_loop_start", iRc );
    }

    prvDeadline( &xUntil, CALL_TIMEOUT_S );
    pthread_mutex_lock( &xLock );

    while( iConnected == 0 && pthread_cond_timedwait( &xChanged, &xLock, &xUntil ) != ETIMEDOUT )
    {
    }

    pthread_mutex_unlock( &xLock );

    if( iConnected != 1 )
    {
        prvFatal( "CONNACK", MOSQ_ERR_CONN_REFUSED );
    }

    long lBase = __atomic_load_n( &lHeapInUse, __ATOMIC_RELAXED );
    long lStartupPeak = __atomic_load_n( &lHeapPeak, __ATOMIC_RELAXED );

    for( int q = 0; q < BENCH_COUNT( iBenchQoS ); q++ )
    {
        for( int t = 0; t < BENCH_COUNT( iBenchTasks ); t++ )
        {
            for( int p = 0; p < BENCH_COUNT( iBenchPayloads ); p++ )
            {
                prvRate( iBenchQoS[ q ], iBenchTasks[ t ], iBenchPayloads[ p ] );
            }
        }
    }

    for( int q = 0; q < BENCH_COUNT( iBenchRttQoS ); q++ )
    {
        for( int p = 0; p < BENCH_COUNT( iBenchPayloads ); p++ )
        {
            prvRoundTrip( iBenchRttQoS[ q ], iBenchPayloads[ p ] );
        }
    }

    vBenchResult( IMPL, "heap", "base_bytes", ( double ) lBase );
    vBenchResult( IMPL, "heap", "startup_peak_bytes", ( double ) lStartupPeak );
    vBenchResult( IMPL, "heap", "peak_bytes", ( double ) lWorkloadPeakMax );

    mosquitto_disconnect( pxMosq );
    mosquitto_loop_stop( pxMosq, false );
    mosquitto_destroy( pxMosq );
    mosquitto_lib_cleanup();
    vBenchResult( IMPL, "run", "seconds", dBenchNow() - dRunStart );
    return 0;
}
