/*
 * ABI check of the public headers against Amazon FreeRTOS v1.4.7: sizes, field
 * offsets and enum values of every public type, asserted at compile time.
 * Built for the 32-bit simulator (gcc -m32) and for Cortex-M (arm-none-eabi-gcc,
 * short enums), each with subscription management on (AFR's default) and off
 * (AFR_ABI_NO_SUBSCRIPTION_MANAGEMENT).
 */
#ifdef AFR_ABI_NO_SUBSCRIPTION_MANAGEMENT
    #define mqttDO_NOT_USE_CUSTOM_CONFIG
    #define mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT    ( 0 )
#endif

#include <stddef.h>
#include <stdint.h>

#include "FreeRTOS.h"
#include "aws_mqtt_agent.h"
#include "aws_mqtt_lib.h"
#include "aws_bufferpool.h"
#include "aws_shadow.h"
#include "aws_mqtt_agent_tls.h"

#define SIZE( type, expected )               _Static_assert( sizeof( type ) == ( expected ), "sizeof(" #type ")" )
#define OFFSET( type, field, expected )      _Static_assert( offsetof( type, field ) == ( expected ), "offsetof(" #type ", " #field ")" )
#define VALUE( constant, expected )          _Static_assert( ( constant ) == ( expected ), #constant )

#if defined( __arm__ )
    #define ENUM    1 /* arm-none-eabi-gcc: short enums (bare-metal AAPCS) */
#else
    #define ENUM    4
#endif

/* The enum-typed field after a pointer and a uint16_t: offset 6 with 1-byte
 * enums, 8 with 4-byte ones; what follows it is pointer-aligned. */
#define AFTER_U16_ENUM    ( ENUM == 1 ? 6 : 8 )
#define NEXT_PTR          ( ENUM == 1 ? 8 : 12 )

/* aws_mqtt_lib.h */
SIZE( MQTTBool_t, ENUM );
VALUE( eMQTTFalse, 0 );
VALUE( eMQTTTrue, 1 );
SIZE( MQTTQoS_t, ENUM );
VALUE( eMQTTQoS0, 0 );
VALUE( eMQTTQoS1, 1 );
VALUE( eMQTTQoS2, 2 );
SIZE( MQTTBufferHandle_t, sizeof( void * ) );

SIZE( MQTTPublishData_t, 24 );
OFFSET( MQTTPublishData_t, xQos, 0 );
OFFSET( MQTTPublishData_t, pucTopic, 4 );
OFFSET( MQTTPublishData_t, usTopicLength, 8 );
OFFSET( MQTTPublishData_t, pvData, 12 );
OFFSET( MQTTPublishData_t, ulDataLength, 16 );
OFFSET( MQTTPublishData_t, xBuffer, 20 );

/* aws_mqtt_agent.h */
SIZE( MQTTAgentHandle_t, sizeof( void * ) );
SIZE( MQTTAgentReturnCode_t, ENUM );
VALUE( eMQTTAgentSuccess, 0 );
VALUE( eMQTTAgentFailure, 1 );
VALUE( eMQTTAgentTimeout, 2 );
VALUE( eMQTTAgentAPICalledFromCallback, 3 );
SIZE( MQTTAgentEvent_t, ENUM );
VALUE( eMQTTAgentPublish, 0 );
VALUE( eMQTTAgentDisconnect, 1 );

VALUE( mqttagentURL_IS_IP_ADDRESS, 0x1 );
VALUE( mqttagentREQUIRE_TLS, 0x2 );
VALUE( mqttagentUSE_AWS_IOT_ALPN_443, 0x4 );

SIZE( MQTTAgentCallbackParams_t, 28 );
OFFSET( MQTTAgentCallbackParams_t, xMQTTEvent, 0 );
OFFSET( MQTTAgentCallbackParams_t, u.xPublishData, 4 );

SIZE( MQTTAgentConnectParams_t, 44 );
OFFSET( MQTTAgentConnectParams_t, pcURL, 0 );
OFFSET( MQTTAgentConnectParams_t, xFlags, 4 );
OFFSET( MQTTAgentConnectParams_t, xURLIsIPAddress, 8 );
OFFSET( MQTTAgentConnectParams_t, usPort, 12 );
OFFSET( MQTTAgentConnectParams_t, pucClientId, 16 );
OFFSET( MQTTAgentConnectParams_t, usClientIdLength, 20 );
OFFSET( MQTTAgentConnectParams_t, xSecuredConnection, 24 );
OFFSET( MQTTAgentConnectParams_t, pvUserData, 28 );
OFFSET( MQTTAgentConnectParams_t, pxCallback, 32 );
OFFSET( MQTTAgentConnectParams_t, pcCertificate, 36 );
OFFSET( MQTTAgentConnectParams_t, ulCertificateSize, 40 );

OFFSET( MQTTAgentSubscribeParams_t, pucTopic, 0 );
OFFSET( MQTTAgentSubscribeParams_t, usTopicLength, 4 );
OFFSET( MQTTAgentSubscribeParams_t, xQoS, AFTER_U16_ENUM );
#if ( mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT == 1 )
    SIZE( MQTTAgentSubscribeParams_t, ENUM == 1 ? 16 : 20 );
    OFFSET( MQTTAgentSubscribeParams_t, pvPublishCallbackContext, NEXT_PTR );
    OFFSET( MQTTAgentSubscribeParams_t, pxPublishCallback, NEXT_PTR + 4 );
#else
    SIZE( MQTTAgentSubscribeParams_t, ENUM == 1 ? 8 : 12 );
#endif

SIZE( MQTTAgentUnsubscribeParams_t, 8 );
OFFSET( MQTTAgentUnsubscribeParams_t, pucTopic, 0 );
OFFSET( MQTTAgentUnsubscribeParams_t, usTopicLength, 4 );

SIZE( MQTTAgentPublishParams_t, ENUM == 1 ? 16 : 20 );
OFFSET( MQTTAgentPublishParams_t, pucTopic, 0 );
OFFSET( MQTTAgentPublishParams_t, usTopicLength, 4 );
OFFSET( MQTTAgentPublishParams_t, xQoS, AFTER_U16_ENUM );
OFFSET( MQTTAgentPublishParams_t, pvData, NEXT_PTR );
OFFSET( MQTTAgentPublishParams_t, ulDataLength, NEXT_PTR + 4 );

/* aws_shadow.h */
SIZE( ShadowClientHandle_t, sizeof( void * ) );
SIZE( ShadowReturnCode_t, 2 );
VALUE( eShadowJSMNPart, -3 );
VALUE( eShadowJSMNInval, -2 );
VALUE( eShadowJSMNNoMem, -1 );
VALUE( eShadowSuccess, 0 );
VALUE( eShadowTimeout, 1 );
VALUE( eShadowFailure, 2 );
VALUE( eShadowUnknown, 3 );
VALUE( eShadowRejectedBadRequest, 400 );
VALUE( eShadowRejectedUnauthorized, 401 );
VALUE( eShadowRejectedForbidden, 403 );
VALUE( eShadowRejectedNotFound, 404 );
VALUE( eShadowRejectedConflict, 409 );
VALUE( eShadowRejectedPayloadTooLarge, 413 );
VALUE( eShadowRejectedUnsupportedMediaType, 415 );
VALUE( eShadowRejectedTooManyRequests, 429 );
VALUE( eShadowRejectedInternalServerError, 500 );
SIZE( ShadowMQTTClientType_t, ENUM );
VALUE( eSharedMQTTClient, 0 );
VALUE( eDedicatedMQTTClient, 1 );

SIZE( ShadowCreateParams_t, 8 );
OFFSET( ShadowCreateParams_t, xMQTTClientType, 0 );
OFFSET( ShadowCreateParams_t, xMQTTClientHandle, 4 );

SIZE( ShadowOperationParams_t, ENUM == 1 ? 20 : 24 );
OFFSET( ShadowOperationParams_t, pcThingName, 0 );
OFFSET( ShadowOperationParams_t, pcData, 4 );
OFFSET( ShadowOperationParams_t, ulDataLength, 8 );
OFFSET( ShadowOperationParams_t, xBuffer, 12 );
OFFSET( ShadowOperationParams_t, ucKeepSubscriptions, 16 );
OFFSET( ShadowOperationParams_t, xQoS, ENUM == 1 ? 17 : 20 );

SIZE( ShadowCallbackParams_t, 16 );
OFFSET( ShadowCallbackParams_t, pcThingName, 0 );
OFFSET( ShadowCallbackParams_t, xShadowUpdatedCallback, 4 );
OFFSET( ShadowCallbackParams_t, xShadowDeletedCallback, 8 );
OFFSET( ShadowCallbackParams_t, xShadowDeltaCallback, 12 );

/* The functions exist with AFR's exact prototypes: assigning each to a pointer of
 * the AFR type fails to compile on any mismatch. */
static BaseType_t ( * const pxPoolInit )( void ) = BUFFERPOOL_Init;
static uint8_t * ( * const pxPoolGet )( uint32_t * ) = BUFFERPOOL_GetFreeBuffer;
static void ( * const pxPoolReturn )( uint8_t * const ) = BUFFERPOOL_ReturnBuffer;

static BaseType_t ( * const pxAgentInit )( void ) = MQTT_AGENT_Init;
static MQTTAgentReturnCode_t ( * const pxAgentCreate )( MQTTAgentHandle_t * const ) = MQTT_AGENT_Create;
static MQTTAgentReturnCode_t ( * const pxAgentDelete )( MQTTAgentHandle_t ) = MQTT_AGENT_Delete;
static MQTTAgentReturnCode_t ( * const pxAgentConnect )( MQTTAgentHandle_t, const MQTTAgentConnectParams_t * const, TickType_t ) = MQTT_AGENT_Connect;
static MQTTAgentReturnCode_t ( * const pxAgentDisconnect )( MQTTAgentHandle_t, TickType_t ) = MQTT_AGENT_Disconnect;
static MQTTAgentReturnCode_t ( * const pxAgentSubscribe )( MQTTAgentHandle_t, const MQTTAgentSubscribeParams_t * const, TickType_t ) = MQTT_AGENT_Subscribe;
static MQTTAgentReturnCode_t ( * const pxAgentUnsubscribe )( MQTTAgentHandle_t, const MQTTAgentUnsubscribeParams_t * const, TickType_t ) = MQTT_AGENT_Unsubscribe;
static MQTTAgentReturnCode_t ( * const pxAgentPublish )( MQTTAgentHandle_t, const MQTTAgentPublishParams_t * const, TickType_t ) = MQTT_AGENT_Publish;
static MQTTAgentReturnCode_t ( * const pxAgentReturn )( MQTTAgentHandle_t, MQTTBufferHandle_t ) = MQTT_AGENT_ReturnBuffer;
static MQTTAgentReturnCode_t ( * const pxAgentReturn2 )( MQTTAgentHandle_t, MQTTBufferHandle_t ) = FreeRTOS_Agent_ReturnBuffer;

static ShadowReturnCode_t ( * const pxShadowCreate )( ShadowClientHandle_t *, const ShadowCreateParams_t * const ) = SHADOW_ClientCreate;
static ShadowReturnCode_t ( * const pxShadowConnect )( ShadowClientHandle_t, MQTTAgentConnectParams_t * const, TickType_t ) = SHADOW_ClientConnect;
static ShadowReturnCode_t ( * const pxShadowDisconnect )( ShadowClientHandle_t ) = SHADOW_ClientDisconnect;
static ShadowReturnCode_t ( * const pxShadowDelete )( ShadowClientHandle_t ) = SHADOW_ClientDelete;
static ShadowReturnCode_t ( * const pxShadowUpdate )( ShadowClientHandle_t, ShadowOperationParams_t * const, TickType_t ) = SHADOW_Update;
static ShadowReturnCode_t ( * const pxShadowGet )( ShadowClientHandle_t, ShadowOperationParams_t * const, TickType_t ) = SHADOW_Get;
static ShadowReturnCode_t ( * const pxShadowDeleteDoc )( ShadowClientHandle_t, ShadowOperationParams_t * const, TickType_t ) = SHADOW_Delete;
static ShadowReturnCode_t ( * const pxShadowRegister )( ShadowClientHandle_t, ShadowCallbackParams_t * const, TickType_t ) = SHADOW_RegisterCallbacks;
static ShadowReturnCode_t ( * const pxShadowReturn )( ShadowClientHandle_t, MQTTBufferHandle_t ) = SHADOW_ReturnMQTTBuffer;

/* This library's TLS additions (not AFR's): their prototypes and error codes. */
static MQTTAgentReturnCode_t ( * const pxAgentSetCredentials )( const char *, uint32_t, const char *, uint32_t ) = MQTT_AGENT_SetClientCredentials;
static MQTTAgentReturnCode_t ( * const pxAgentTlsError )( MQTTAgentHandle_t, MQTTAgentTLSError_t * ) = MQTT_AGENT_GetTLSError;
_Static_assert( eMQTTAgentTLSNoError == 0 && eMQTTAgentTLSUnknownIssuer == 7 && eMQTTAgentTLSNotBuilt == 16, "TLS error codes" );

/* Every checked function, so that the simulator program links them all.
 * (A plain table: summing `p != NULL` for each sent arm-none-eabi-gcc 12's
 * optimiser into a loop that ate all memory at -Os.) */
typedef void ( * AnyFunction_t )( void );
static volatile AnyFunction_t const xFunctions[] =
{
    ( AnyFunction_t ) pxPoolInit,         ( AnyFunction_t ) pxPoolGet,          ( AnyFunction_t ) pxPoolReturn,
    ( AnyFunction_t ) pxAgentInit,        ( AnyFunction_t ) pxAgentCreate,      ( AnyFunction_t ) pxAgentDelete,
    ( AnyFunction_t ) pxAgentConnect,     ( AnyFunction_t ) pxAgentDisconnect,  ( AnyFunction_t ) pxAgentSubscribe,
    ( AnyFunction_t ) pxAgentUnsubscribe, ( AnyFunction_t ) pxAgentPublish,     ( AnyFunction_t ) pxAgentReturn,
    ( AnyFunction_t ) pxAgentReturn2,     ( AnyFunction_t ) pxShadowCreate,     ( AnyFunction_t ) pxShadowConnect,
    ( AnyFunction_t ) pxShadowDisconnect, ( AnyFunction_t ) pxShadowDelete,     ( AnyFunction_t ) pxShadowUpdate,
    ( AnyFunction_t ) pxShadowGet,        ( AnyFunction_t ) pxShadowDeleteDoc,  ( AnyFunction_t ) pxShadowRegister,
    ( AnyFunction_t ) pxShadowReturn,     ( AnyFunction_t ) pxAgentSetCredentials, ( AnyFunction_t ) pxAgentTlsError,
};

int afr_abi_checked( void )
{
    int n = 0;

    for( size_t i = 0; i < sizeof( xFunctions ) / sizeof( xFunctions[ 0 ] ); i++ )
    {
        n += ( xFunctions[ i ] != NULL ) ? 1 : 0;
    }

    return n;
}
