# Turns cpp/cotnpot/exec/worker.py into a C++ source holding it as a string, so the installed library
# carries its own worker (C++ users need no Python file beside it).
file(READ "${INPUT}" WORKER_SOURCE)
file(WRITE "${OUTPUT}" "// Generated from worker.py by cmake/embed_worker.cmake; do not edit.\n#include \"cotnpot/exec/executor.h\"\nnamespace cotnpot::exec {\nconst char* const kWorkerSource = R\"cotnpot_worker(${WORKER_SOURCE})cotnpot_worker\";\n}\n")
