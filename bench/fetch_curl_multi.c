/* fetch_curl_multi: the libcurl peer of bench/run_fetch.py. Fetches URL COUNT times on libcurl's
 * multi interface with at most CONCURRENCY transfers in flight (default: all COUNT at once),
 * connection reuse as curl does it by default (the multi handle's connection cache), every
 * status checked for 200, and prints one line: "seconds=S ok=K failed=F".
 *
 * usage: fetch_curl_multi URL COUNT [CONCURRENCY]
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* The body is counted and dropped: a fetch benchmark measures the transfer, not a copy. */
static size_t discard_body(char* data, size_t size, size_t count, void* user) {
  (void)data;
  (void)user;
  return size * count;
}

static long parse_positive(const char* text, const char* what) {
  char* end = NULL;
  const long value = strtol(text, &end, 10);
  if (end == text || *end != '\0' || value <= 0) {
    fprintf(stderr, "fetch_curl_multi: %s must be a positive integer, not '%s'\n", what, text);
    exit(2);
  }
  return value;
}

static int add_transfer(CURLM* multi, const char* url) {
  CURL* easy = curl_easy_init();
  if (!easy) return -1;
  curl_easy_setopt(easy, CURLOPT_URL, url);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard_body);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT, 60L);
  if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
    curl_easy_cleanup(easy);
    return -1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: fetch_curl_multi URL COUNT [CONCURRENCY]\n");
    return 2;
  }
  const char* url = argv[1];
  const long count = parse_positive(argv[2], "COUNT");
  long concurrency = argc == 4 ? parse_positive(argv[3], "CONCURRENCY") : count;
  if (concurrency > count) concurrency = count;

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "fetch_curl_multi: curl_global_init failed\n");
    return 1;
  }
  CURLM* multi = curl_multi_init();
  /* As many cached connections as transfers in flight, so every one can be reused. */
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, concurrency);

  const double start = now_seconds();
  long started = 0, ok = 0, failed = 0;
  while (started < concurrency) {
    if (add_transfer(multi, url) != 0) {
      ++failed;
    }
    ++started;
  }
  int running = 1;
  while (ok + failed < count) {
    curl_multi_perform(multi, &running);
    CURLMsg* message;
    int queued;
    while ((message = curl_multi_info_read(multi, &queued)) != NULL) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      if (message->data.result == CURLE_OK && status == 200) {
        ++ok;
      } else {
        ++failed;
        if (failed <= 3) {
          fprintf(stderr, "fetch_curl_multi: %s: %s (status %ld)\n", url,
                  curl_easy_strerror(message->data.result), status);
        }
      }
      curl_multi_remove_handle(multi, easy);
      curl_easy_cleanup(easy);
      if (started < count) {
        if (add_transfer(multi, url) != 0) ++failed;
        ++started;
      }
    }
    if (ok + failed < count) curl_multi_poll(multi, NULL, 0, 1000, NULL);
  }
  const double seconds = now_seconds() - start;

  curl_multi_cleanup(multi);
  curl_global_cleanup();
  printf("seconds=%.6f ok=%ld failed=%ld\n", seconds, ok, failed);
  return failed == 0 ? 0 : 1;
}
