/*
 * Benchmark pool: buffers large enough to receive a 4 KB payload (AFR's
 * 2,176-byte demo buffers cannot hold one), and enough of them for four
 * publishing tasks plus the messages coming back.
 */
#ifndef _AWS_BUFFER_POOL_CONFIG_H_
#define _AWS_BUFFER_POOL_CONFIG_H_

#define bufferpoolconfigNUM_BUFFERS    ( 16 )
#define bufferpoolconfigBUFFER_SIZE    ( 8 * 1024 )

#endif /* _AWS_BUFFER_POOL_CONFIG_H_ */
