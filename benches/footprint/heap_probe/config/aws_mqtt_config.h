/* The footprint images' configuration (benches/footprint/config/). */
#include "../../config/aws_mqtt_config.h"
