#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_bufferpool.h"
#include "aws_bufferpool_config.h"
#include "task.h"

#include "agent_util.h"
#include "test_support.h"

MQTTAgentReturnCode_t xUtilConnect( MQTTAgentHandle_t xClient,
                                    uint16_t usPort,
                                    const char * pcClientId,
                                    MQTTAgentCallback_t pxCallback,
                                    void * pvUserData,
                                    TickType_t xTimeout )
{
    MQTTAgentConnectParams_t xParams =
    {
        .pcURL             = "127.0.0.1",
        .xFlags            = mqttagentURL_IS_IP_ADDRESS,
        .usPort            = usPort,
        .pucClientId       = ( const uint8_t * ) pcClientId,
        .usClientIdLength  = ( uint16_t ) strlen( pcClientId ),
        .pvUserData        = pvUserData,
        .pxCallback        = pxCallback,
    };

    return MQTT_AGENT_Connect( xClient, &xParams, xTimeout );
}

#if ( mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT == 1 )
MQTTAgentReturnCode_t xUtilSubscribe( MQTTAgentHandle_t xClient,
                                      const char * pcFilter,
                                      MQTTQoS_t xQoS,
                                      MQTTPublishCallback_t pxCallback,
                                      void * pvContext )
{
    MQTTAgentSubscribeParams_t xParams =
    {
        .pucTopic                 = ( const uint8_t * ) pcFilter,
        .usTopicLength            = ( uint16_t ) strlen( pcFilter ),
        .xQoS                     = xQoS,
        .pvPublishCallbackContext = pvContext,
        .pxPublishCallback        = pxCallback,
    };

    return MQTT_AGENT_Subscribe( xClient, &xParams, T_TIMEOUT );
}
#endif

MQTTAgentReturnCode_t xUtilPublish( MQTTAgentHandle_t xClient,
                                    const char * pcTopic,
                                    MQTTQoS_t xQoS,
                                    const void * pvData,
                                    uint32_t ulLength,
                                    TickType_t xTimeout )
{
    MQTTAgentPublishParams_t xParams =
    {
        .pucTopic      = ( const uint8_t * ) pcTopic,
        .usTopicLength = ( uint16_t ) strlen( pcTopic ),
        .xQoS          = xQoS,
        .pvData        = pvData,
        .ulDataLength  = ulLength,
    };

    return MQTT_AGENT_Publish( xClient, &xParams, xTimeout );
}

int iUtilPoolFree( void )
{
    uint8_t * pxTaken[ bufferpoolconfigNUM_BUFFERS ];
    int n = 0;

    while( n < bufferpoolconfigNUM_BUFFERS )
    {
        uint32_t ulLength = 1;
        pxTaken[ n ] = BUFFERPOOL_GetFreeBuffer( &ulLength );

        if( pxTaken[ n ] == NULL )
        {
            break;
        }

        n++;
    }

    for( int i = 0; i < n; i++ )
    {
        BUFFERPOOL_ReturnBuffer( pxTaken[ i ] );
    }

    return n;
}

BaseType_t xUtilWaitFor( volatile int * piCounter, int iTarget, TickType_t xTicks )
{
    for( TickType_t t = 0; t < xTicks && *piCounter < iTarget; t++ )
    {
        vTaskDelay( 1 );
    }

    return ( *piCounter >= iTarget ) ? pdTRUE : pdFALSE;
}

void vUtilAgentTestMain( void ( * pvBody )( void ), TickType_t xWatchdogTicks )
{
    BUFFERPOOL_Init();

    if( MQTT_AGENT_Init() != pdPASS )
    {
        printf( "MQTT_AGENT_Init failed\n" );
        exit( 1 );
    }

    vTestMain( pvBody, xWatchdogTicks );
}
