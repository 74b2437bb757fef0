# Helpers every test folder uses, so adding a test is one call.
include(GoogleTest)
find_package(GTest CONFIG REQUIRED)

# connwatch_add_gtest(NAME SOURCES a.cpp b.cpp LIBS lib... [LABELS l...])
# One GoogleTest binary; each TEST becomes its own CTest test.
function(connwatch_add_gtest name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE connwatch_options GTest::gtest GTest::gmock GTest::gtest_main ${ARG_LIBS})
  target_compile_definitions(${name} PRIVATE CONNWATCH_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                             CONNWATCH_BINARY_DIR="${PROJECT_BINARY_DIR}")
  set(labels unit ${ARG_LABELS})
  gtest_discover_tests(${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTIES LABELS "${labels}"
                       DISCOVERY_TIMEOUT 60)
endfunction()

# connwatch_add_python_test(NAME SCRIPT path.py [LABELS l...] [TIMEOUT s])
# A test that drives the real binaries as a user would (subprocesses, HTTP, promtool).
# Exit code 77 means skipped (no root, no network namespaces), with the reason printed. They run
# alone (RUN_SERIAL): they measure real sockets and timing, which a parallel build would disturb.
function(connwatch_add_python_test name)
  cmake_parse_arguments(ARG "" "SCRIPT;TIMEOUT" "LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  if(CONNWATCH_SANITIZE)
    set(sanitized 1)
  else()
    set(sanitized 0)
  endif()
  add_test(NAME ${name} COMMAND python3 -u ${ARG_SCRIPT} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES
    LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT} SKIP_RETURN_CODE 77 RUN_SERIAL TRUE
    ENVIRONMENT "CONNWATCH_SOURCE_DIR=${PROJECT_SOURCE_DIR};CONNWATCH_BINARY_DIR=${PROJECT_BINARY_DIR};PYTHONPATH=${PROJECT_SOURCE_DIR}/tests;PYTHONDONTWRITEBYTECODE=1;CONNWATCH_SANITIZED=${sanitized}")
endfunction()

# connwatch_add_fuzz_target(NAME SOURCES a.cpp LIBS lib... CORPUS dir...)
# The source defines LLVMFuzzerTestOneInput. With CONNWATCH_FUZZ (clang, the "fuzz" preset) it is a
# libFuzzer binary and CTest fuzzes it for a bounded time; otherwise a standalone driver replays
# the corpus through it, so every build runs the seeds under the same checks (and ASan in "asan").
function(connwatch_add_fuzz_target name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;CORPUS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE connwatch_options ${ARG_LIBS})
  set_property(GLOBAL APPEND PROPERTY CONNWATCH_FUZZ_TARGETS ${name})
  if(CONNWATCH_FUZZ)
    # ASan, UBSan and coverage come with connwatch_options; this adds libFuzzer's main.
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    set(workdir ${CMAKE_CURRENT_BINARY_DIR}/${name}-corpus)
    file(MAKE_DIRECTORY ${workdir})
    add_test(NAME ${name}.fuzz COMMAND ${name} -max_total_time=${CONNWATCH_FUZZ_SECONDS} -timeout=5
                                       -rss_limit_mb=1024 ${workdir} ${ARG_CORPUS})
    set_tests_properties(${name}.fuzz PROPERTIES LABELS "fuzz" TIMEOUT 600)
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/standalone_main.cpp)
    add_test(NAME ${name}.corpus COMMAND ${name} ${ARG_CORPUS})
    set_tests_properties(${name}.corpus PROPERTIES LABELS "unit;fuzz")
  endif()
endfunction()
