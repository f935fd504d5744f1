/* The demos' agent configuration: the shadow tests change only the pool and shadow limits. */
#include "../../c_demo/config/aws_mqtt_agent_config.h"
