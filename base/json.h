/* The one in-memory JSON type is yajl's yajl_val tree (yajl/yajl_tree.h). These
 * builders make trees that yajl_tree_free() frees. Numbers always carry their text in
 * u.number.r, so 64-bit values are exact and the encoder prints them verbatim. */
#ifndef QGAD_BASE_JSON_H
#define QGAD_BASE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

yajl_val json_object(void);
yajl_val json_array(void);
yajl_val json_string(const char *s);
yajl_val json_string_len(const char *s, size_t len);
yajl_val json_string_take(char *s); /* takes ownership of a malloc'd string */
yajl_val json_int(int64_t v);
yajl_val json_uint(uint64_t v);
yajl_val json_double(double v);
/* A number from its JSON text (as the parser saw it). */
yajl_val json_number_text(const char *text, size_t len);
yajl_val json_bool(bool b);
yajl_val json_null(void);

/* Add takes ownership of value. Keys are copied. No duplicate check: callers own that. */
void json_object_add(yajl_val obj, const char *key, yajl_val value);
void json_array_add(yajl_val arr, yajl_val value);

/* Convenience adders for reply building. */
void json_object_add_str(yajl_val obj, const char *key, const char *s);
void json_object_add_int(yajl_val obj, const char *key, int64_t v);
void json_object_add_uint(yajl_val obj, const char *key, uint64_t v);
void json_object_add_bool(yajl_val obj, const char *key, bool b);

/* Member lookup; NULL if absent or obj is not an object. */
yajl_val json_get(yajl_val obj, const char *key);
yajl_val json_copy(yajl_val v);
void json_free(yajl_val v);

/* Exact integer views of a number. Return false when the value is not an integer in range
 * (1.5, "1", 2^64-1 for int64). */
bool json_as_int64(yajl_val v, int64_t *out);
bool json_as_uint64(yajl_val v, uint64_t *out);

#endif
