#include <png.h>
#include "flr_png_read.h"
