# Tests of the local AWS IoT Device Shadow service (tests/tools/shadow_service.py)
# and of run_with_broker.py --shadow. Python only (standard library), a private
# mosquitto on 127.0.0.1. Included by tests/CMakeLists.txt (after
# common/test_support.cmake, which defines AFR_TEST_PYTHON).

if(NOT AFR_TEST_PYTHON)
  find_program(AFR_TEST_PYTHON NAMES python3 REQUIRED)
endif()

# -B and PYTHONDONTWRITEBYTECODE: no __pycache__ in the source tree.
add_test(NAME shadow_service
  COMMAND ${AFR_TEST_PYTHON} -B -m unittest -v test_shadow_service
  WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(shadow_service PROPERTIES
  TIMEOUT 120
  LABELS broker
  ENVIRONMENT PYTHONDONTWRITEBYTECODE=1)
