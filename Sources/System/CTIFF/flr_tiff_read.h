// flr: libtiff on a memory buffer. libtiff reports errors through handler callbacks with C varargs, which Swift
// cannot receive, so this header (compiled by clang as inline functions of the CTIFF module) opens the file with
// its own handlers that keep the first error message, reads the tags Pillow's TiffImagePlugin looks at, and
// decodes every strip or tile of the first page into one buffer of rows, separate planes interleaved (no colour
// conversion: the Swift side converts the samples as Pillow does).
#ifndef FLR_TIFF_READ_H
#define FLR_TIFF_READ_H

#include <tiffio.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const unsigned char *data;
  uint64_t size, offset;
  char message[256];  // the first error libtiff reported
} flr_tiff_source;

typedef struct {
  uint32_t width, height;
  uint16_t bits, samples, photometric, sample_format, planar, compression, orientation;
  uint16_t extra_count;
  uint16_t extra[8];    // ExtraSamples values (first 8)
  uint16_t *colormap[3];  // owned by the TIFF handle; NULL when absent
  int tiled;
} flr_tiff_info;

static tmsize_t flr_tiff_read_proc(thandle_t handle, void *buffer, tmsize_t count) {
  flr_tiff_source *src = (flr_tiff_source *)handle;
  if (count < 0 || src->offset >= src->size) return 0;
  uint64_t n = (uint64_t)count;
  if (n > src->size - src->offset) n = src->size - src->offset;
  memcpy(buffer, src->data + src->offset, (size_t)n);
  src->offset += n;
  return (tmsize_t)n;
}

static tmsize_t flr_tiff_write_proc(thandle_t handle, void *buffer, tmsize_t count) {
  (void)handle; (void)buffer; (void)count;
  return 0;
}

static toff_t flr_tiff_seek_proc(thandle_t handle, toff_t offset, int whence) {
  flr_tiff_source *src = (flr_tiff_source *)handle;
  uint64_t base = whence == SEEK_CUR ? src->offset : whence == SEEK_END ? src->size : 0;
  src->offset = base + offset;
  return src->offset;
}

static int flr_tiff_close_proc(thandle_t handle) { (void)handle; return 0; }

static toff_t flr_tiff_size_proc(thandle_t handle) { return ((flr_tiff_source *)handle)->size; }

static int flr_tiff_map_proc(thandle_t handle, void **base, toff_t *size) {
  (void)handle; (void)base; (void)size;
  return 0;
}

static void flr_tiff_unmap_proc(thandle_t handle, void *base, toff_t size) { (void)handle; (void)base; (void)size; }

static int flr_tiff_on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
  (void)tif; (void)module;
  flr_tiff_source *src = (flr_tiff_source *)user;
  if (!src->message[0]) vsnprintf(src->message, sizeof(src->message), fmt, ap);
  return 1;
}

static int flr_tiff_on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
  (void)tif; (void)user; (void)module; (void)fmt; (void)ap;
  return 1;
}

/// Opens the first page; NULL with `src->message` set when the file is not a readable TIFF.
static inline TIFF *flr_tiff_open(flr_tiff_source *src, int64_t max_allocation) {
  TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
  if (!options) { strcpy(src->message, "out of memory"); return NULL; }
  TIFFOpenOptionsSetErrorHandlerExtR(options, flr_tiff_on_error, src);
  TIFFOpenOptionsSetWarningHandlerExtR(options, flr_tiff_on_warning, src);
  TIFFOpenOptionsSetMaxSingleMemAlloc(options, (tmsize_t)max_allocation);
  TIFF *tif = TIFFClientOpenExt("memory", "rm", (thandle_t)src, flr_tiff_read_proc, flr_tiff_write_proc,
                                flr_tiff_seek_proc, flr_tiff_close_proc, flr_tiff_size_proc, flr_tiff_map_proc,
                                flr_tiff_unmap_proc, options);
  TIFFOpenOptionsFree(options);
  if (!tif && !src->message[0]) strcpy(src->message, "not a readable TIFF file");
  return tif;
}

/// The tags that decide how the samples are read; absent ones get the TIFF defaults (as Pillow assumes them).
static inline void flr_tiff_get_info(TIFF *tif, flr_tiff_info *info) {
  memset(info, 0, sizeof(*info));
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &info->width);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &info->height);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &info->bits);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &info->samples);
  if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &info->photometric)) info->photometric = 0;
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &info->sample_format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &info->planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &info->compression);
  if (!TIFFGetField(tif, TIFFTAG_ORIENTATION, &info->orientation)) info->orientation = 1;
  uint16_t count = 0;
  uint16_t *values = NULL;
  if (TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &count, &values) && values) {
    info->extra_count = count;
    for (int i = 0; i < count && i < 8; i++) info->extra[i] = values[i];
  }
  if (info->photometric == PHOTOMETRIC_PALETTE) {
    uint16_t *r = NULL, *g = NULL, *b = NULL;
    if (TIFFGetField(tif, TIFFTAG_COLORMAP, &r, &g, &b)) {
      info->colormap[0] = r;
      info->colormap[1] = g;
      info->colormap[2] = b;
    }
  }
  info->tiled = TIFFIsTiled(tif);
}

/// Asks libjpeg for RGB from a JPEG-compressed YCbCr file (what Pillow's decoder does); call before reading.
static inline void flr_tiff_jpeg_to_rgb(TIFF *tif) { TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB); }

static inline uint64_t flr_tiff_scanline_size(TIFF *tif) { return (uint64_t)TIFFScanlineSize64(tif); }

/// Decodes one plane of the first page (plane 0 holds every sample when they are contiguous) into `out`: `height`
/// rows of `row_bytes` bytes, `bits_per_pixel` bits per pixel of the plane. Returns 0 on success; otherwise
/// non-zero with `src->message` set.
static inline int flr_tiff_read_plane(TIFF *tif, flr_tiff_source *src, unsigned char *out, uint64_t row_bytes,
                                      uint32_t width, uint32_t height, uint32_t bits_per_pixel, uint16_t plane) {
  uint64_t total = row_bytes * height;
  if (!TIFFIsTiled(tif)) {
    uint32_t rows_per_strip = 0;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rows_per_strip);
    if (rows_per_strip == 0 || rows_per_strip > height) rows_per_strip = height;
    uint32_t strips = (height + rows_per_strip - 1) / rows_per_strip;
    for (uint32_t s = 0; s < strips; s++) {
      uint64_t start = (uint64_t)s * rows_per_strip * row_bytes;
      uint64_t want = total - start < rows_per_strip * row_bytes ? total - start : rows_per_strip * row_bytes;
      tmsize_t got = TIFFReadEncodedStrip(tif, plane * strips + s, out + start, (tmsize_t)want);
      if (got < 0 || (uint64_t)got < want) {
        if (!src->message[0]) snprintf(src->message, sizeof(src->message), "strip %u is truncated or corrupt", s);
        return 1;
      }
    }
    return 0;
  }
  uint32_t tile_width = 0, tile_height = 0;
  TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tile_width);
  TIFFGetField(tif, TIFFTAG_TILELENGTH, &tile_height);
  tmsize_t tile_size = TIFFTileSize(tif);
  uint64_t tile_row = (uint64_t)TIFFTileRowSize64(tif);
  if (tile_width == 0 || tile_height == 0 || tile_size <= 0 || (tile_width * (uint64_t)bits_per_pixel) % 8 ||
      tile_row * tile_height > (uint64_t)tile_size) {
    if (!src->message[0]) strcpy(src->message, "invalid tile layout");
    return 1;
  }
  unsigned char *tile = (unsigned char *)malloc((size_t)tile_size);
  if (!tile) { strcpy(src->message, "out of memory"); return 1; }
  for (uint32_t y = 0; y < height; y += tile_height) {
    for (uint32_t x = 0; x < width; x += tile_width) {
      tmsize_t got = TIFFReadEncodedTile(tif, TIFFComputeTile(tif, x, y, 0, plane), tile, tile_size);
      if (got < tile_size) {
        if (!src->message[0]) snprintf(src->message, sizeof(src->message), "tile at %u,%u is truncated or corrupt", x, y);
        free(tile);
        return 1;
      }
      uint64_t column = (uint64_t)x * bits_per_pixel / 8;
      uint64_t length = row_bytes - column < tile_row ? row_bytes - column : tile_row;
      for (uint32_t r = 0; r < tile_height && y + r < height; r++) {
        memcpy(out + (uint64_t)(y + r) * row_bytes + column, tile + (uint64_t)r * tile_row, (size_t)length);
      }
    }
  }
  free(tile);
  return 0;
}

/// Decodes the first page into `out` as contiguous samples: `height` rows of `scanline` bytes. Separate planes
/// (whole-byte samples) are read one by one and interleaved. Returns 0 on success; otherwise non-zero with
/// `src->message` set.
static inline int flr_tiff_read_rows(TIFF *tif, flr_tiff_source *src, unsigned char *out, uint64_t scanline,
                                     uint32_t width, uint32_t height, uint32_t bits, uint32_t samples, int planar) {
  if (!planar) return flr_tiff_read_plane(tif, src, out, scanline, width, height, bits * samples, 0);
  uint32_t size = bits / 8;
  uint64_t plane_row = (uint64_t)width * size;
  unsigned char *plane = (unsigned char *)malloc((size_t)(plane_row * height));
  if (!plane) { strcpy(src->message, "out of memory"); return 1; }
  for (uint32_t p = 0; p < samples; p++) {
    if (flr_tiff_read_plane(tif, src, plane, plane_row, width, height, bits, (uint16_t)p)) {
      free(plane);
      return 1;
    }
    for (uint32_t y = 0; y < height; y++) {
      const unsigned char *from = plane + (uint64_t)y * plane_row;
      unsigned char *to = out + (uint64_t)y * scanline + (uint64_t)p * size;
      for (uint32_t x = 0; x < width; x++) memcpy(to + (uint64_t)x * samples * size, from + (uint64_t)x * size, size);
    }
  }
  free(plane);
  return 0;
}

#endif
