/* Buffer pool of the footprint images: 8 buffers of 512 bytes (AFR demo defaults). */
#ifndef _AWS_BUFFER_POOL_CONFIG_H_
#define _AWS_BUFFER_POOL_CONFIG_H_

#define bufferpoolconfigNUM_BUFFERS    ( 8 )
#define bufferpoolconfigBUFFER_SIZE    ( 512 )

#endif /* _AWS_BUFFER_POOL_CONFIG_H_ */
