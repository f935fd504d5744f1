/* The demos' configuration. */
#include "../../c_demo/config/aws_mqtt_config.h"
