#include "trace/trace-hw_pvclock.h"
