// Error-trapping wrappers around libjpeg-turbo and libpng.
//
// Both libraries report a corrupt file by longjmp-ing out of the decoder (or by calling exit()),
// which Swift cannot catch, so the setjmp lives here, in C. No image logic: each function hands
// back the decoded samples exactly as the library produced them, with the conversions PIL asks
// the library for (JPEG: YCbCr -> RGB, islow DCT, fancy upsampling; PNG: palette expanded,
// low bit depths expanded to 8, 16-bit samples kept whole for the caller to reduce as PIL does).
#ifndef LLAVA_IMAGE_CODECS_H
#define LLAVA_IMAGE_CODECS_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int width;
    int height;
    int channels;        // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
    int bytes_per_sample;// 1 or 2 (16-bit PNG, big-endian)
    uint8_t *pixels;     // malloc'd, rows packed; free with llava_image_free
    char message[200];   // the library's own error text when the call fails
} llava_decoded_image;

// Returns 0 on success, non-zero on failure with `message` set. An image whose header declares more than
// max_pixels pixels is refused before any pixel memory is taken (a few bytes of PNG can declare gigabytes).
int llava_decode_jpeg(const uint8_t *data, size_t length, uint64_t max_pixels, llava_decoded_image *out);
int llava_decode_png(const uint8_t *data, size_t length, uint64_t max_pixels, llava_decoded_image *out);
void llava_image_free(llava_decoded_image *image);

// Encoders for 8-bit RGB, rows packed. On success *out holds a malloc'd file image (free with llava_buffer_free)
// and *out_length its size; non-zero on failure with `message` (200 bytes) set. quality: 1...100.
int llava_encode_png(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *out_length, char *message);
int llava_encode_jpeg(const uint8_t *rgb, int width, int height, int quality, uint8_t **out, size_t *out_length,
                      char *message);
void llava_buffer_free(uint8_t *buffer);

#endif
