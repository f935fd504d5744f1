/* Declares a library's initialisation function, as Amazon FreeRTOS v1 did. */
#ifndef _AWS_LIB_INIT_H_
#define _AWS_LIB_INIT_H_

#include "FreeRTOS.h"

#define lib_initDECLARE_LIB_INIT( f )    extern BaseType_t f( void )

#endif /* _AWS_LIB_INIT_H_ */
