/*
 * Defaults for the Device Shadow client's configuration, as in Amazon
 * FreeRTOS v1. A project overrides them in its own aws_shadow_config.h.
 */
#ifndef _AWS_SHADOW_CONFIG_DEFAULTS_H_
#define _AWS_SHADOW_CONFIG_DEFAULTS_H_

/* AFR's JSON token budget. Accepted so that projects build; this library's
 * response matching does not depend on a document's size or token count. */
#ifndef shadowconfigJSON_JSMN_TOKENS
    #define shadowconfigJSON_JSMN_TOKENS    ( 64 )
#endif

#ifndef shadowconfigMAX_CLIENTS
    #define shadowconfigMAX_CLIENTS    ( 1 )
#endif

#ifndef shadowconfigENABLE_DEBUG_LOGS
    #define shadowconfigENABLE_DEBUG_LOGS    ( 0 )
#endif

#ifndef shadowconfigMAX_THINGS_WITH_CALLBACKS
    #define shadowconfigMAX_THINGS_WITH_CALLBACKS    ( 1 )
#endif

#ifndef shadowconfigCLEANUP_TIME_MS
    #define shadowconfigCLEANUP_TIME_MS    ( 5000UL )
#endif

#endif /* _AWS_SHADOW_CONFIG_DEFAULTS_H_ */
