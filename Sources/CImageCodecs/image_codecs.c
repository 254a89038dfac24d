// Error-trapping wrappers around libjpeg-turbo and libpng; see image_codecs.h.
#include "image_codecs.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

// ---- JPEG -------------------------------------------------------------------------------------

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
} jpeg_trap;

static void jpeg_trap_exit(j_common_ptr cinfo) {
    jpeg_trap *trap = (jpeg_trap *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    snprintf(trap->message, 200, "%s", buffer);
    longjmp(trap->jump, 1);
}

// Warnings are ignored as PIL ignores them, except running out of data: PIL refuses a truncated file.
static void jpeg_trap_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_trap *trap = (jpeg_trap *)cinfo->err;
        snprintf(trap->message, 200, "file is truncated");
        longjmp(trap->jump, 1);
    }
}

// Whether a header's width x height is over max_pixels; if so `out` says so (size, limit) for the caller's error.
static int over_pixel_limit(uint64_t width, uint64_t height, uint64_t max_pixels, llava_decoded_image *out) {
    if (width * height <= max_pixels) return 0;
    snprintf(out->message, 200, "%llux%llu pixels is over the limit of %llu pixels", (unsigned long long)width,
             (unsigned long long)height, (unsigned long long)max_pixels);
    out->width = (int)width;
    out->height = (int)height;
    return 1;
}

int llava_decode_jpeg(const uint8_t *data, size_t length, uint64_t max_pixels, llava_decoded_image *out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_trap trap;
    uint8_t *volatile pixels = NULL;
    memset(out, 0, sizeof(*out));
    cinfo.err = jpeg_std_error(&trap.base);
    trap.base.error_exit = jpeg_trap_exit;
    trap.base.emit_message = jpeg_trap_message;
    trap.message = out->message;
    if (setjmp(trap.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)length);
    jpeg_read_header(&cinfo, TRUE);
    if (over_pixel_limit(cinfo.image_width, cinfo.image_height, max_pixels, out)) {
        jpeg_destroy_decompress(&cinfo);
        return 2;
    }
    if (cinfo.jpeg_color_space == JCS_GRAYSCALE) {
        cinfo.out_color_space = JCS_GRAYSCALE;
    } else if (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB) {
        cinfo.out_color_space = JCS_RGB;
    } else {
        snprintf(out->message, 200, "unsupported JPEG colour space %d (CMYK/YCCK)", (int)cinfo.jpeg_color_space);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    pixels = malloc(stride * cinfo.output_height);
    if (!pixels) {
        snprintf(out->message, 200, "out of memory for a %ux%u image", cinfo.output_width, cinfo.output_height);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->channels = cinfo.output_components;
    out->bytes_per_sample = 1;
    out->pixels = pixels;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

// ---- PNG --------------------------------------------------------------------------------------

typedef struct {
    const uint8_t *data;
    size_t length;
    size_t offset;
    char *message;
} png_source;

static void png_trap_error(png_structp png, png_const_charp text) {
    png_source *source = (png_source *)png_get_error_ptr(png);
    snprintf(source->message, 200, "%s", text);
    png_longjmp(png, 1);
}

static void png_trap_warning(png_structp png, png_const_charp text) { (void)png; (void)text; }

static void png_read_memory(png_structp png, png_bytep target, png_size_t count) {
    png_source *source = (png_source *)png_get_io_ptr(png);
    if (count > source->length - source->offset) png_error(png, "file is truncated");
    memcpy(target, source->data + source->offset, count);
    source->offset += count;
}

int llava_decode_png(const uint8_t *data, size_t length, uint64_t max_pixels, llava_decoded_image *out) {
    memset(out, 0, sizeof(*out));
    png_source source = {data, length, 0, out->message};
    if (length < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(out->message, 200, "not a PNG signature");
        return 1;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, png_trap_error, png_trap_warning);
    if (!png) { snprintf(out->message, 200, "libpng could not start"); return 1; }
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(pixels);
        free(rows);
        if (out->message[0] == 0) snprintf(out->message, 200, "libpng failed");
        return 1;
    }
    png_set_read_fn(png, &source, png_read_memory);
    // PIL reads large ancillary chunks too; do not let libpng's default limits refuse them.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    if (over_pixel_limit(width, height, max_pixels, out)) {
        png_destroy_read_struct(&png, &info, NULL);
        return 2;
    }
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    // A tRNS chunk becomes an alpha channel (the caller keeps RGB as PIL's convert("RGB") and the alpha beside it).
    // 16-bit gray and RGB with a tRNS key are left opaque (not checked against PIL: no fixture has one).
    if (png_get_valid(png, info, PNG_INFO_tRNS) && (color == PNG_COLOR_TYPE_PALETTE || depth <= 8))
        png_set_tRNS_to_alpha(png);
    if (png_get_interlace_type(png, info) != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    int out_depth = png_get_bit_depth(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if ((uint64_t)stride * height > (uint64_t)1 << 34) png_error(png, "image too large");
    pixels = malloc(stride * height);
    rows = malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + stride * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->bytes_per_sample = out_depth == 16 ? 2 : 1;
    out->pixels = pixels;
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

void llava_image_free(llava_decoded_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}

// ---- Encoders (synthetic scenes are written as real PNG and JPEG files) --------------------------

void llava_buffer_free(uint8_t *buffer) { free(buffer); }

int llava_encode_jpeg(const uint8_t *rgb, int width, int height, int quality, uint8_t **out, size_t *out_length,
                      char *message) {
    struct jpeg_compress_struct cinfo;
    jpeg_trap trap;
    unsigned char *volatile buffer = NULL;
    unsigned long size = 0;
    *out = NULL; *out_length = 0; message[0] = 0;
    if (width <= 0 || height <= 0) { snprintf(message, 200, "empty image"); return 1; }
    cinfo.err = jpeg_std_error(&trap.base);
    trap.base.error_exit = jpeg_trap_exit;
    trap.base.emit_message = jpeg_trap_message;
    trap.message = message;
    if (setjmp(trap.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return 1;
    }
    jpeg_create_compress(&cinfo);
    unsigned char *target = NULL;
    jpeg_mem_dest(&cinfo, &target, &size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * 3;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + stride * cinfo.next_scanline);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    buffer = target;
    jpeg_destroy_compress(&cinfo);
    *out = buffer;
    *out_length = size;
    return 0;
}

typedef struct {
    uint8_t *data;
    size_t length, capacity;
    char *message;
} png_sink;

static void png_write_memory(png_structp png, png_bytep source, png_size_t count) {
    png_sink *sink = (png_sink *)png_get_io_ptr(png);
    if (sink->length + count > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity * 2 : 65536;
        while (capacity < sink->length + count) capacity *= 2;
        uint8_t *grown = realloc(sink->data, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->length, source, count);
    sink->length += count;
}

static void png_flush_memory(png_structp png) { (void)png; }

static void png_sink_error(png_structp png, png_const_charp text) {
    png_sink *sink = (png_sink *)png_get_error_ptr(png);
    snprintf(sink->message, 200, "%s", text);
    png_longjmp(png, 1);
}

int llava_encode_png(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *out_length, char *message) {
    png_sink sink = {NULL, 0, 0, message};
    *out = NULL; *out_length = 0; message[0] = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, png_sink_error, png_trap_warning);
    if (!png) { snprintf(message, 200, "libpng could not start"); return 1; }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(sink.data);
        return 1;
    }
    png_set_write_fn(png, &sink, png_write_memory, png_flush_memory);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * width * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = sink.data;
    *out_length = sink.length;
    return 0;
}
