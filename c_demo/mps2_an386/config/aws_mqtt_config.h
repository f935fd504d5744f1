/* The board runs the demos' configuration unchanged. */
#include "../../config/aws_mqtt_config.h"
