/* Device Shadow configuration of the simulator demos and tests. */
#ifndef _AWS_SHADOW_CONFIG_H_
#define _AWS_SHADOW_CONFIG_H_

#define shadowconfigMAX_CLIENTS                  ( 2 )
#define shadowconfigMAX_THINGS_WITH_CALLBACKS    ( 2 )

#endif /* _AWS_SHADOW_CONFIG_H_ */
