/* Argument conversion. Strings are copied into malloc'd buffers because the spawn child reads them
 * after clone, where V8's heap must not be touched. */
#include "wg.h"

#include <stdlib.h>
#include <string.h>

bool wg_check(napi_env env, napi_status status) {
  if (status == napi_ok) return true;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "N-API call failed");
  }
  return false;
}

static bool type_error(napi_env env, const char *what, const char *expected) {
  char msg[160];
  strcpy(msg, "");
  strncat(msg, what, 80);
  strncat(msg, expected, sizeof msg - strlen(msg) - 1);
  napi_throw_type_error(env, NULL, msg);
  return false;
}

bool wg_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t got = n;
  if (!wg_check(env, napi_get_cb_info(env, info, &got, argv, NULL, NULL))) return false;
  if (got < n) return type_error(env, "wakegate addon", ": missing arguments");
  return true;
}

bool wg_get_int32(napi_env env, napi_value v, const char *what, int32_t *out) {
  napi_valuetype t;
  if (!wg_check(env, napi_typeof(env, v, &t))) return false;
  if (t != napi_number) return type_error(env, what, " must be a number");
  return wg_check(env, napi_get_value_int32(env, v, out));
}

char *wg_get_string(napi_env env, napi_value v, const char *what) {
  napi_valuetype t;
  size_t len = 0;
  if (!wg_check(env, napi_typeof(env, v, &t))) return NULL;
  if (t != napi_string) return type_error(env, what, " must be a string"), NULL;
  if (!wg_check(env, napi_get_value_string_utf8(env, v, NULL, 0, &len))) return NULL;
  char *s = malloc(len + 1);
  if (!s) return napi_throw_error(env, NULL, "out of memory"), NULL;
  if (!wg_check(env, napi_get_value_string_utf8(env, v, s, len + 1, &len))) return free(s), NULL;
  /* An embedded NUL would silently truncate a path or an env entry: refuse it. */
  if (strlen(s) != len) return free(s), type_error(env, what, " must not contain NUL"), NULL;
  return s;
}

void wg_free_strings(char **list) {
  if (!list) return;
  for (char **p = list; *p; p++) free(*p);
  free(list);
}

/* A NULL-terminated copy of a string array, with `extra` zeroed slots before the terminator that the
 * caller may fill (spawn puts the LISTEN_PID slot there). */
char **wg_get_strings(napi_env env, napi_value arr, const char *what, size_t extra, size_t *count) {
  bool is_array = false;
  uint32_t n = 0;
  if (!wg_check(env, napi_is_array(env, arr, &is_array))) return NULL;
  if (!is_array) return type_error(env, what, " must be an array of strings"), NULL;
  if (!wg_check(env, napi_get_array_length(env, arr, &n))) return NULL;
  char **list = calloc((size_t)n + extra + 1, sizeof *list);
  if (!list) return napi_throw_error(env, NULL, "out of memory"), NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (!wg_check(env, napi_get_element(env, arr, i, &item)) || !(list[i] = wg_get_string(env, item, what))) {
      wg_free_strings(list);
      return NULL;
    }
  }
  *count = n;
  return list;
}

/* True when obj has `key` set to something other than undefined/null. */
bool wg_get_opt(napi_env env, napi_value obj, const char *key, napi_value *out) {
  napi_valuetype t;
  if (napi_typeof(env, obj, &t) != napi_ok || t != napi_object) return false;
  if (napi_get_named_property(env, obj, key, out) != napi_ok) return false;
  if (napi_typeof(env, *out, &t) != napi_ok) return false;
  return t != napi_undefined && t != napi_null;
}

napi_value wg_int(napi_env env, int64_t v) {
  napi_value out = NULL;
  napi_create_int64(env, v, &out);
  return out;
}
