// flr: a setjmp-guarded libpng reader. Swift cannot call setjmp, and libpng reports every error by longjmp, so
// this one function (compiled by clang as an inline function of the CPNG module) owns the jump buffer. It
// returns the raw samples with no colour transform (no gamma, no tRNS expansion, no 16 -> 8 scaling), so
// the Swift side can reproduce Pillow's own conversions exactly. Only deinterlacing and unpacking of 1/2/4-bit
// samples to one byte each are done here (gray is scaled to 0-255 by bit replication, palette indices are not).
#ifndef FLR_PNG_READ_H
#define FLR_PNG_READ_H

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  unsigned int width, height;
  int bit_depth;        // 8 or 16 after unpacking
  int color_type;       // PNG_COLOR_TYPE_* of the file
  int channels;         // samples per pixel in `pixels`
  size_t row_bytes;     // bytes per row in `pixels`
  unsigned char *pixels;  // malloc'ed, height * row_bytes; the caller frees it with flr_png_free
  int num_palette;
  unsigned char palette[256 * 3];
  char message[256];    // set when the function returns non-zero
} flr_png_image;

typedef struct {
  const unsigned char *data;
  size_t size, offset;
  char *message;
} flr_png_source;

static void flr_png_read_bytes(png_structp png, png_bytep out, size_t count) {
  flr_png_source *src = (flr_png_source *)png_get_io_ptr(png);
  if (count > src->size - src->offset) png_error(png, "file is truncated");
  memcpy(out, src->data + src->offset, count);
  src->offset += count;
}

static void flr_png_on_error(png_structp png, png_const_charp msg) {
  flr_png_source *src = (flr_png_source *)png_get_error_ptr(png);
  strncpy(src->message, msg ? msg : "libpng error", 255);
  src->message[255] = 0;
  png_longjmp(png, 1);
}

static void flr_png_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static inline void flr_png_free(flr_png_image *image) {
  free(image->pixels);
  image->pixels = NULL;
}

/// Decodes `data` into `image`. Returns 0 on success; otherwise non-zero with `image->message` set and no pixels.
/// Images with more than `max_pixels` pixels are refused before any pixel memory is allocated.
static inline int flr_png_decode(const unsigned char *data, size_t size, unsigned long long max_pixels,
                                 flr_png_image *image) {
  memset(image, 0, sizeof(*image));
  flr_png_source src = {data, size, 0, image->message};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, flr_png_on_error, flr_png_on_warning);
  if (!png) { strcpy(image->message, "out of memory"); return 1; }
  png_infop info = png_create_info_struct(png);
  unsigned char *volatile pixels = NULL;
  png_bytep *volatile rows = NULL;
  if (!info) { png_destroy_read_struct(&png, NULL, NULL); strcpy(image->message, "out of memory"); return 1; }
  if (setjmp(png_jmpbuf(png))) {
    free(pixels);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    if (!image->message[0]) strcpy(image->message, "libpng error");
    return 1;
  }
  png_set_read_fn(png, &src, flr_png_read_bytes);
  // Pillow refuses a file whose chunks before IDAT fail their CRC; libpng would only warn for ancillary ones.
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_read_info(png, info);
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
  if (width == 0 || height == 0) png_error(png, "image has zero size");
  if ((unsigned long long)width * height > max_pixels) {
    snprintf(image->message, sizeof(image->message), "image is %ux%u, above the limit of %llu pixels",
             (unsigned)width, (unsigned)height, max_pixels);
    png_longjmp(png, 1);
  }
  if (bit_depth < 8) {
    if (color_type == PNG_COLOR_TYPE_GRAY) png_set_expand_gray_1_2_4_to_8(png);
    else png_set_packing(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  size_t row_bytes = png_get_rowbytes(png, info);
  if (row_bytes == 0 || (size_t)height > ((size_t)-1) / row_bytes) png_error(png, "image too large");
  pixels = (unsigned char *)malloc(row_bytes * height);
  rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
  if (!pixels || !rows) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * row_bytes;
  png_read_image(png, rows);
  image->width = width;
  image->height = height;
  image->bit_depth = png_get_bit_depth(png, info);
  image->color_type = color_type;
  image->channels = png_get_channels(png, info);
  image->row_bytes = row_bytes;
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_colorp palette = NULL;
    int count = 0;
    if (png_get_PLTE(png, info, &palette, &count) && palette) {
      image->num_palette = count > 256 ? 256 : count;
      for (int i = 0; i < image->num_palette; i++) {
        image->palette[3 * i] = palette[i].red;
        image->palette[3 * i + 1] = palette[i].green;
        image->palette[3 * i + 2] = palette[i].blue;
      }
    }
  }
  free(rows);
  rows = NULL;
  image->pixels = pixels;
  png_destroy_read_struct(&png, &info, NULL);
  return 0;
}

#endif
