/* The demos' MQTT configuration (subscription management on: the round-trip
 * workloads use subscription callbacks). */
#include "../../../c_demo/config/aws_mqtt_config.h"
