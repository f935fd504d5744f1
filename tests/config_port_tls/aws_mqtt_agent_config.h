/* The demos' agent configuration, with TLS left to the Secure Sockets port, as
 * AFR v1.4.7 did (the library is built without its own TLS). */
#define mqttconfigTLS_BACKEND    ( 0 ) /* mqttagentTLS_BACKEND_SOCKETS_PORT */
#include "../../c_demo/config/aws_mqtt_agent_config.h"
