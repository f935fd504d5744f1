/* A small buffer pool (see aws_mqtt_agent_config.h). */
#ifndef _AWS_BUFFER_POOL_CONFIG_H_
#define _AWS_BUFFER_POOL_CONFIG_H_

#define bufferpoolconfigNUM_BUFFERS    ( 4 )
#define bufferpoolconfigBUFFER_SIZE    ( 256 )

#endif /* _AWS_BUFFER_POOL_CONFIG_H_ */
