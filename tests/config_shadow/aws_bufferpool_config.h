/*
 * Buffers large enough for shadow documents of 8 KB: an update/documents
 * message carries the previous and the current document with their metadata.
 */
#ifndef _AWS_BUFFER_POOL_CONFIG_H_
#define _AWS_BUFFER_POOL_CONFIG_H_

#define bufferpoolconfigNUM_BUFFERS    ( 8 )
#define bufferpoolconfigBUFFER_SIZE    ( 40 * 1024 )

#endif /* _AWS_BUFFER_POOL_CONFIG_H_ */
