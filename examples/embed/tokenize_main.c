/* bert_tokenize VOCAB [MAX_LEN]: prints the ids of each line of stdin, one
 * line of space-separated ids per input line. A test driver for tokenizer.c
 * (test/python/test_tokenizer.py compares it with the `tokenizers` package). */
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer.h"

/* Reads one line of any length (without its '\n'); NULL at end of input. */
static char* read_line(FILE* f) {
  size_t size = 0, cap = 256;
  char* line = malloc(cap);
  int c;
  while (line && (c = fgetc(f)) != EOF && c != '\n') {
    if (size + 1 == cap) {
      char* bigger = realloc(line, cap *= 2);
      if (!bigger) free(line);
      line = bigger;
    }
    if (line) line[size++] = (char)c;
  }
  if (!line || (size == 0 && c == EOF)) return free(line), NULL;
  line[size] = '\0';
  return line;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s VOCAB.txt [MAX_LEN] < lines\n", argv[0]);
    return 2;
  }
  int max_len = argc == 3 ? atoi(argv[2]) : 512;
  char err[512];
  bert_tokenizer* tok = bert_tokenizer_load(argv[1], err, sizeof err);
  if (!tok) {
    fprintf(stderr, "bert_tokenize: %s\n", err);
    return 1;
  }
  int64_t* ids = malloc(sizeof(int64_t) * (size_t)(max_len > 2 ? max_len : 2));
  if (!ids) return bert_tokenizer_free(tok), 1;
  char* line;
  int status = 0;
  while ((line = read_line(stdin)) != NULL) {
    int n = bert_tokenizer_encode(tok, line, ids, max_len);
    if (n < 0) status = 1;
    for (int i = 0; i < n; ++i) printf(i ? " %lld" : "%lld", (long long)ids[i]);
    printf("\n");
    free(line);
  }
  free(ids);
  bert_tokenizer_free(tok);
  return status;
}
