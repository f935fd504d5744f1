/* Buffer pool configuration of the simulator demos and tests. */
#ifndef _AWS_BUFFER_POOL_CONFIG_H_
#define _AWS_BUFFER_POOL_CONFIG_H_

#define bufferpoolconfigNUM_BUFFERS    ( 8 )
#define bufferpoolconfigBUFFER_SIZE    ( 2048 + 128 )

#endif /* _AWS_BUFFER_POOL_CONFIG_H_ */
