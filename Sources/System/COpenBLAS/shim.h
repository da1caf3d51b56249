#include <cblas.h>
// OpenBLAS thread control (declared in cblas.h of the openblas-pthread variant).
