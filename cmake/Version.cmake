# connwatch_build_info{version,revision}: the revision is the git commit the build came from.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                OUTPUT_VARIABLE CONNWATCH_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                RESULT_VARIABLE _rev_result)
if(NOT _rev_result EQUAL 0 OR CONNWATCH_REVISION STREQUAL "")
  set(CONNWATCH_REVISION "unknown")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/version.h.in ${PROJECT_BINARY_DIR}/generated/connwatch/version.h @ONLY)
