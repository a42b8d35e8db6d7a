/* thumbs: image thumbnails with libvips.
 *
 * Why libvips: it streams (an image is decoded a strip at a time as the
 * thumbnail is made, and a JPEG or WebP shrinks while it loads), so memory
 * stays small whatever the image's size; its loaders for PNG, JPEG, WebP
 * and GIF are the fuzzed system libraries (libspng/libpng, libjpeg-turbo,
 * libwebp, libnsgif); and it can be told to refuse every loader not vetted
 * for untrusted input (vips_block_untrusted_set). Debian ships it as
 * libvips-dev.
 *
 * An image is refused before any pixel is decoded when its header claims
 * more than max_pixels (an image bomb, or a decompression bomb: a few KB
 * that would inflate to gigabytes): libvips reads headers lazily, so the
 * dimensions are known before decoding starts.
 *
 * thumbs_make() blocks: call it on libuv's thread pool. */
#ifndef STATEROOM_THUMBS_H
#define STATEROOM_THUMBS_H

#include <stddef.h>
#include <stdint.h>

#include "sniff.h"

#define THUMBS_MAX_SIDE 320
#define THUMBS_MIME "image/webp"

enum thumbs_result {
	THUMBS_OK,
	THUMBS_TOO_LARGE,       /* the header's dimensions are over the limit */
	THUMBS_BAD,             /* not a readable image of its type */
	THUMBS_ERROR,           /* out of memory, or the thumbnail not written */
};

/* Starts libvips for this process (argv0 as vips_init wants it), for a
 * server: one worker thread per image, no operation cache. 0 or -1. */
int thumbs_init(const char *argv0);
void thumbs_shutdown(void);

/* Reads src (an image of type t) and writes its thumbnail, at most
 * THUMBS_MAX_SIDE a side, as WebP to dst. For THUMBS_BAD and THUMBS_ERROR,
 * err holds libvips' reason (for the log: the loop thread writes it). */
enum thumbs_result thumbs_make(const char *src, enum sniff_type t, uint64_t max_pixels,
			       const char *dst, char *err, size_t err_len);

#endif
