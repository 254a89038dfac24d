// oneDNN's C API (Debian libdnnl-dev 2.x): bf16 matrix products on CPUs with AVX512-BF16, as PyTorch uses them.
#include <oneapi/dnnl/dnnl.h>
