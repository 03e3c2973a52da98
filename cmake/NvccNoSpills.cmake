# Runs nvcc with -Xptxas -v on one source, prints ptxas's resource table (registers, shared
# memory, stack, spills) and fails when any kernel spills registers to local memory.
# Called by CMakeLists.txt: cmake -DNVCC=... -DARGS=... -DSOURCE=... -DOUTPUT=... -P this file.
execute_process(COMMAND "${NVCC}" ${ARGS} "${SOURCE}" -o "${OUTPUT}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  file(REMOVE "${OUTPUT}")
  message(FATAL_ERROR "nvcc failed on ${SOURCE} (exit ${rc})")
endif()
string(REGEX MATCHALL "[^\n]*[ \t][1-9][0-9]* bytes spill (stores|loads)[^\n]*" spills "${out}${err}")
if(spills)
  file(REMOVE "${OUTPUT}")
  string(REPLACE ";" "\n" spills "${spills}")
  message(FATAL_ERROR "register spills in ${SOURCE}:\n${spills}\nReduce register pressure or change the launch bounds.")
endif()
