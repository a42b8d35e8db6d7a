#include "thumbs.h"

#include <stdio.h>
#include <vips/vips.h>

int thumbs_init(const char *argv0)
{
	if (VIPS_INIT(argv0) != 0)
		return -1;
	/* Loaders that are not fuzzed for hostile input (ImageMagick, PDFium,
	 * SVG and the like) are refused whatever the bytes claim. */
	vips_block_untrusted_set(TRUE);
	vips_concurrency_set(1);
	vips_cache_set_max(0);
	vips_cache_set_max_mem(0);
	vips_cache_set_max_files(0);
	return 0;
}

void thumbs_shutdown(void)
{
	vips_shutdown();
}

/* The header only: the loader of the sniffed type, never one vips would
 * pick from the bytes. */
static VipsImage *thumbs_header(const char *src, enum sniff_type t)
{
	VipsImage *img = NULL;
	int rc;

	switch (t) {
	case SNIFF_PNG:
		rc = vips_pngload(src, &img, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
		break;
	case SNIFF_JPEG:
		rc = vips_jpegload(src, &img, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
		break;
	case SNIFF_WEBP:
		rc = vips_webpload(src, &img, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
		break;
	case SNIFF_GIF:
		rc = vips_gifload(src, &img, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
		break;
	default:
		return NULL;
	}
	return rc == 0 ? img : NULL;
}

enum thumbs_result thumbs_make(const char *src, enum sniff_type t, uint64_t max_pixels,
			       const char *dst, char *err, size_t err_len)
{
	VipsImage *img, *thumb = NULL;
	uint64_t w, h;
	int rc;

	img = thumbs_header(src, t);
	if (!img) {
		snprintf(err, err_len, "%s", vips_error_buffer());
		vips_error_clear();
		return THUMBS_BAD;
	}
	w = (uint64_t)vips_image_get_width(img);
	h = (uint64_t)vips_image_get_height(img);
	g_object_unref(img);
	if (w == 0 || h == 0 || w * h > max_pixels)
		return THUMBS_TOO_LARGE;
	/* vips_thumbnail loads again, shrinking as it loads where the format
	 * can; the loader is vips' choice now, among the trusted ones only, and
	 * the bytes are of a type the sniffer and the loader above agree on. */
	rc = vips_thumbnail(src, &thumb, THUMBS_MAX_SIDE, "height", THUMBS_MAX_SIDE,
			    "size", VIPS_SIZE_DOWN, NULL);
	if (rc == 0)
		rc = vips_webpsave(thumb, dst, "Q", 80, "strip", TRUE, NULL);
	if (thumb)
		g_object_unref(thumb);
	if (rc != 0) {
		snprintf(err, err_len, "%s", vips_error_buffer());
		vips_error_clear();
		/* Dimensions fine but the pixels do not decode: a broken image. */
		return THUMBS_BAD;
	}
	return THUMBS_OK;
}
