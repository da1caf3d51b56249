#include <tiffio.h>
#include "flr_tiff_read.h"
