/* Shadow limits of the shadow tests: several clients and things at once. */
#ifndef _AWS_SHADOW_CONFIG_H_
#define _AWS_SHADOW_CONFIG_H_

#define shadowconfigMAX_CLIENTS                  ( 3 )
#define shadowconfigMAX_THINGS_WITH_CALLBACKS    ( 2 )
#define shadowconfigCLEANUP_TIME_MS              ( 3000UL )

#endif /* _AWS_SHADOW_CONFIG_H_ */
