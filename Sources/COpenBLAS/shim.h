// BLAS entry points: OpenBLAS's cblas.h on Linux, Accelerate on macOS.
#if defined(__APPLE__)
#define ACCELERATE_NEW_LAPACK 1
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif
