/* The demos' agent configuration: the benchmark changes only the pool. */
#include "../../../c_demo/config/aws_mqtt_agent_config.h"
