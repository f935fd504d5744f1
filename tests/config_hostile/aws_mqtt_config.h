/* The demos' MQTT configuration (subscription management on, as shadows need). */
#include "../../c_demo/config/aws_mqtt_config.h"
