# bertc_add_model: compile an ONNX model with `bertc compile` at build time.
#
#   bertc_add_model(NAME <name> MODEL <file.onnx>
#                   [TARGET cpu|cuda-fp16|cuda-fp32] [CPU x86-64-v3|x86-64-v4|native]
#                   [ARCH sm_80,sm_90,...] [MAX_BATCH <n>] [MAX_SEQ <n>])
#
# runs, in the build of whoever calls it,
#
#   bertc compile <file.onnx> --target=<TARGET> -o ${CMAKE_CURRENT_BINARY_DIR}/<name>.o --name <name> ...
#
# which writes <name>.o and <name>.h. The command re-runs when the model or
# the bertc binary changes. It adds a static library target <name> holding
# <name>.o; linking it gives a host the object, the include directory of
# <name>.h and bertc::rt (libbertc_rt and its threads library); for a CUDA
# target also bertc::rt_cuda (libbertc_rt_cuda, cudart, cuBLASLt), which an
# installed bertc has when it was built with the CUDA toolkit:
#
#   bertc_add_model(NAME minilm MODEL minilm.onnx MAX_SEQ 128)
#   target_link_libraries(app PRIVATE minilm)     # then: #include "minilm.h"
#
# <name> is the C prefix of every symbol in the object, so it must be a C
# identifier, and two models with different names link into one program.
#
# The targets bertc::bertc (the compiler) and bertc::rt must exist: an
# installed bertc provides them through find_package(bertc), and bertc's own
# build tree defines them as aliases of its targets.

function(bertc_add_model)
  cmake_parse_arguments(PARSE_ARGV 0 ARG "" "NAME;MODEL;TARGET;CPU;ARCH;MAX_BATCH;MAX_SEQ" "")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "bertc_add_model: unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_NAME OR NOT ARG_MODEL)
    message(FATAL_ERROR "bertc_add_model: NAME and MODEL are required")
  endif()
  if(NOT ARG_NAME MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "bertc_add_model: NAME '${ARG_NAME}' is not a C identifier (it prefixes the model's symbols)")
  endif()
  foreach(target bertc::bertc bertc::rt)
    if(NOT TARGET ${target})
      message(FATAL_ERROR "bertc_add_model: target ${target} not found; call find_package(bertc) first")
    endif()
  endforeach()
  if(NOT ARG_TARGET)
    set(ARG_TARGET cpu)
  endif()
  if(ARG_TARGET MATCHES "^cuda-")
    if(NOT TARGET bertc::rt_cuda)
      message(FATAL_ERROR "bertc_add_model: TARGET ${ARG_TARGET} needs bertc::rt_cuda, which a bertc built "
                          "without the CUDA toolkit lacks")
    endif()
    if(ARG_CPU)
      message(FATAL_ERROR "bertc_add_model: CPU applies to TARGET cpu only")
    endif()
  elseif(NOT ARG_TARGET STREQUAL "cpu")
    message(FATAL_ERROR "bertc_add_model: TARGET must be cpu, cuda-fp16 or cuda-fp32, got '${ARG_TARGET}'")
  elseif(ARG_ARCH)
    message(FATAL_ERROR "bertc_add_model: ARCH applies to the CUDA targets only")
  endif()
  foreach(count MAX_BATCH MAX_SEQ)
    if(DEFINED ARG_${count} AND NOT ARG_${count} MATCHES "^[1-9][0-9]*$")
      message(FATAL_ERROR "bertc_add_model: ${count} must be a positive integer, got '${ARG_${count}}'")
    endif()
  endforeach()

  get_filename_component(model "${ARG_MODEL}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  set(object "${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.o")
  set(header "${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.h")
  set(options --target=${ARG_TARGET} -o "${object}" --name ${ARG_NAME})
  if(ARG_CPU)
    list(APPEND options --cpu=${ARG_CPU})
  endif()
  if(ARG_ARCH)
    string(REPLACE ";" "," arch "${ARG_ARCH}")
    list(APPEND options --arch=${arch})
  endif()
  if(ARG_MAX_BATCH)
    list(APPEND options --max-batch ${ARG_MAX_BATCH})
  endif()
  if(ARG_MAX_SEQ)
    list(APPEND options --max-seq ${ARG_MAX_SEQ})
  endif()

  # COMMAND names the executable target, so CMake builds bertc first where
  # it is part of the same build; DEPENDS on its file re-runs the command
  # whenever bertc changes.
  add_custom_command(
    OUTPUT "${object}" "${header}"
    COMMAND bertc::bertc compile "${model}" ${options}
    DEPENDS "${model}" "$<TARGET_FILE:bertc::bertc>"
    COMMENT "bertc: compiling ${ARG_MODEL} into ${ARG_NAME}.o and ${ARG_NAME}.h"
    VERBATIM)

  # A static library of the one object: the object goes into the host's link
  # without being a source of any host target, and the library carries the
  # include directory and bertc::rt to whoever links it.
  set_source_files_properties("${object}" PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
  add_library(${ARG_NAME} STATIC "${object}" "${header}")
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if("C" IN_LIST languages)
    set(language C)
  elseif("CXX" IN_LIST languages)
    set(language CXX)
  else()
    message(FATAL_ERROR "bertc_add_model: enable C or CXX in project() to link a model")
  endif()
  set_target_properties(${ARG_NAME} PROPERTIES LINKER_LANGUAGE ${language})
  target_include_directories(${ARG_NAME} PUBLIC "$<BUILD_INTERFACE:${CMAKE_CURRENT_BINARY_DIR}>")
  target_link_libraries(${ARG_NAME} PUBLIC bertc::rt)
  if(ARG_TARGET MATCHES "^cuda-")
    target_link_libraries(${ARG_NAME} PUBLIC bertc::rt_cuda)
  endif()
endfunction()
