/* tokenizer.c - BERT basic tokenisation + WordPiece; see tokenizer.h. */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ vocabulary */

struct bert_tokenizer {
  char* text;         /* the file's bytes, each line NUL-terminated in place */
  const char** token; /* token[id] */
  uint32_t* length;   /* length[id] in bytes */
  int64_t count;
  int32_t* slot;      /* open-addressing hash table of ids, -1 = empty */
  uint32_t mask;      /* table size - 1 (a power of two) */
  int64_t cls, sep, unk, pad;
};

static uint32_t hash_bytes(const char* s, size_t n) { /* FNV-1a */
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static int64_t lookup(const bert_tokenizer* t, const char* s, size_t n) {
  for (uint32_t i = hash_bytes(s, n) & t->mask;; i = (i + 1) & t->mask) {
    int32_t id = t->slot[i];
    if (id < 0) return -1;
    if (t->length[id] == n && memcmp(t->token[id], s, n) == 0) return id;
  }
}

static int set_error(char* err, size_t errlen, const char* what, const char* path) {
  if (err && errlen) snprintf(err, errlen, "%s: %s", path, what);
  return 0;
}

bert_tokenizer* bert_tokenizer_load(const char* path, char* err, size_t errlen) {
  FILE* f = fopen(path, "rb");
  if (!f) return set_error(err, errlen, "cannot open the vocabulary", path), NULL;
  bert_tokenizer* t = calloc(1, sizeof *t);
  long size = -1;
  if (t && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  if (t && size >= 0 && fseek(f, 0, SEEK_SET) == 0) t->text = malloc((size_t)size + 1);
  if (!t || !t->text || fread(t->text, 1, (size_t)size, f) != (size_t)size) {
    fclose(f);
    bert_tokenizer_free(t);
    return set_error(err, errlen, "cannot read the vocabulary", path), NULL;
  }
  fclose(f);
  t->text[size] = '\0';

  /* One token per line; a last line without '\n' counts, trailing blanks
   * and '\r' are not part of the token (as in Hugging Face's loader). */
  int64_t lines = 0;
  for (long i = 0; i < size; ++i) lines += t->text[i] == '\n';
  if (size > 0 && t->text[size - 1] != '\n') ++lines;
  uint32_t table = 2;
  while (table < 2 * (uint64_t)lines + 1) table *= 2;
  t->token = malloc(sizeof(char*) * (size_t)(lines ? lines : 1));
  t->length = malloc(sizeof(uint32_t) * (size_t)(lines ? lines : 1));
  t->slot = malloc(sizeof(int32_t) * table);
  if (!t->token || !t->length || !t->slot || lines > INT32_MAX) {
    bert_tokenizer_free(t);
    return set_error(err, errlen, "vocabulary too large", path), NULL;
  }
  memset(t->slot, 0xff, sizeof(int32_t) * table);
  t->mask = table - 1;
  char* p = t->text;
  for (int64_t id = 0; id < lines; ++id) {
    char* nl = strchr(p, '\n');
    char* end = nl ? nl : p + strlen(p);
    char* next = nl ? nl + 1 : end;
    while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) --end;
    *end = '\0';
    t->token[id] = p;
    t->length[id] = (uint32_t)(end - p);
    if (lookup(t, p, t->length[id]) < 0) { /* a repeated token keeps its first id */
      uint32_t i = hash_bytes(p, t->length[id]) & t->mask;
      while (t->slot[i] >= 0) i = (i + 1) & t->mask;
      t->slot[i] = (int32_t)id;
    }
    p = next;
  }
  t->count = lines;
  t->cls = lookup(t, "[CLS]", 5);
  t->sep = lookup(t, "[SEP]", 5);
  t->unk = lookup(t, "[UNK]", 5);
  t->pad = lookup(t, "[PAD]", 5);
  if (t->cls < 0 || t->sep < 0 || t->unk < 0 || t->pad < 0) {
    bert_tokenizer_free(t);
    return set_error(err, errlen, "not a BERT vocabulary (needs [CLS], [SEP], [UNK] and [PAD])", path), NULL;
  }
  return t;
}

void bert_tokenizer_free(bert_tokenizer* t) {
  if (!t) return;
  free(t->text);
  free(t->token);
  free(t->length);
  free(t->slot);
  free(t);
}

int64_t bert_tokenizer_token_id(const bert_tokenizer* t, const char* s) { return lookup(t, s, strlen(s)); }
int64_t bert_tokenizer_vocab_size(const bert_tokenizer* t) { return t->count; }
int64_t bert_tokenizer_pad_id(const bert_tokenizer* t) { return t->pad; }

/* -------------------------------------------------- character classes */

/* Decodes one UTF-8 character at s (n bytes left); *used gets its length.
 * Malformed input decodes as U+FFFD, which the clean-up drops. */
static uint32_t decode_utf8(const unsigned char* s, size_t n, size_t* used) {
  static const unsigned char kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4};
  size_t len = kLen[s[0] >> 4];
  *used = 1;
  if (len == 1) return s[0];
  if (len == 0 || len > n) return 0xFFFD;
  uint32_t c = s[0] & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0xFFFD;
    c = (c << 6) | (s[i] & 0x3F);
  }
  static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0xFFFD;
  *used = len;
  return c;
}

static size_t encode_utf8(uint32_t c, char* out) {
  if (c < 0x80) return out[0] = (char)c, 1;
  if (c < 0x800) return out[0] = (char)(0xC0 | c >> 6), out[1] = (char)(0x80 | (c & 0x3F)), 2;
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | c >> 12), out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    return out[2] = (char)(0x80 | (c & 0x3F)), 3;
  }
  out[0] = (char)(0xF0 | c >> 18), out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  return out[2] = (char)(0x80 | ((c >> 6) & 0x3F)), out[3] = (char)(0x80 | (c & 0x3F)), 4;
}

static int in_ranges(uint32_t c, const uint32_t (*r)[2], size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (c >= r[i][0] && c <= r[i][1]) return 1;
  return 0;
}
#define IN(c, table) in_ranges((c), (table), sizeof(table) / sizeof((table)[0]))

/* Unicode White_Space. */
static int is_space(uint32_t c) {
  static const uint32_t k[][2] = {{0x09, 0x0D}, {0x20, 0x20}, {0x85, 0x85}, {0xA0, 0xA0},
                                  {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029},
                                  {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}};
  return IN(c, k);
}

/* Dropped by the clean-up: controls (Cc) other than \t \n \r, format
 * characters (Cf) and private use (Co). Unassigned code points are kept. */
static int is_control(uint32_t c) {
  static const uint32_t k[][2] = {
      {0x00, 0x08}, {0x0B, 0x0C}, {0x0E, 0x1F}, {0x7F, 0x9F}, {0xAD, 0xAD}, {0x600, 0x605},
      {0x61C, 0x61C}, {0x6DD, 0x6DD}, {0x70F, 0x70F}, {0x890, 0x891}, {0x8E2, 0x8E2},
      {0x180E, 0x180E}, {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064}, {0x2066, 0x206F},
      {0xE000, 0xF8FF}, {0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFB}, {0xFFFD, 0xFFFD},
      {0xF0000, 0x10FFFF}};
  return IN(c, k);
}

/* ASCII symbols count as punctuation in BERT; elsewhere the Unicode P* classes. */
static int is_punct(uint32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  static const uint32_t k[][2] = {
      {0xA1, 0xA1}, {0xA7, 0xA7}, {0xAB, 0xAB}, {0xB6, 0xB7}, {0xBB, 0xBB}, {0xBF, 0xBF},
      {0x2010, 0x2027}, {0x2030, 0x2043}, {0x2045, 0x2051}, {0x2053, 0x205E}, {0x207D, 0x207E},
      {0x208D, 0x208E}, {0x3001, 0x3003}, {0x3008, 0x3011}, {0x3014, 0x301F}, {0x3030, 0x3030},
      {0x303D, 0x303D}, {0x30A0, 0x30A0}, {0x30FB, 0x30FB}, {0xFE10, 0xFE19}, {0xFE30, 0xFE52},
      {0xFE54, 0xFE61}, {0xFE63, 0xFE63}, {0xFE68, 0xFE68}, {0xFE6A, 0xFE6B}, {0xFF01, 0xFF03},
      {0xFF05, 0xFF0A}, {0xFF0C, 0xFF0F}, {0xFF1A, 0xFF1B}, {0xFF1F, 0xFF20}, {0xFF3B, 0xFF3D},
      {0xFF3F, 0xFF3F}, {0xFF5B, 0xFF5B}, {0xFF5D, 0xFF5D}, {0xFF5F, 0xFF65}};
  return IN(c, k);
}

/* The CJK ideograph blocks BERT splits into single characters. */
static int is_cjk(uint32_t c) {
  static const uint32_t k[][2] = {{0x4E00, 0x9FFF}, {0x3400, 0x4DBF}, {0x20000, 0x2A6DF},
                                  {0x2A700, 0x2B73F}, {0x2B740, 0x2B81F}, {0x2B820, 0x2CEAF},
                                  {0xF900, 0xFAFF}, {0x2F800, 0x2FA1F}};
  return IN(c, k);
}

/* Accent stripping then lower-casing (NFD, drop Mn, lower()) for
 * U+00C0-U+017F, precomputed with Python's unicodedata. Letters without a
 * canonical decomposition (æ, ø, đ, ł, œ, ß, ...) only lose their case. */
static const uint16_t kFoldLatin[192] = {
    'a', 'a', 'a', 'a', 'a', 'a', 0x00E6, 'c', 'e', 'e', 'e', 'e', 'i', 'i', 'i', 'i',  /* U+00C0 */
    0x00F0, 'n', 'o', 'o', 'o', 'o', 'o', 0x00D7, 0x00F8, 'u', 'u', 'u', 'u', 'y', 0x00FE, 0x00DF,
    'a', 'a', 'a', 'a', 'a', 'a', 0x00E6, 'c', 'e', 'e', 'e', 'e', 'i', 'i', 'i', 'i',  /* U+00E0 */
    0x00F0, 'n', 'o', 'o', 'o', 'o', 'o', 0x00F7, 0x00F8, 'u', 'u', 'u', 'u', 'y', 0x00FE, 'y',
    'a', 'a', 'a', 'a', 'a', 'a', 'c', 'c', 'c', 'c', 'c', 'c', 'c', 'c', 'd', 'd',  /* U+0100 */
    0x0111, 0x0111, 'e', 'e', 'e', 'e', 'e', 'e', 'e', 'e', 'e', 'e', 'g', 'g', 'g', 'g',
    'g', 'g', 'g', 'g', 'h', 'h', 0x0127, 0x0127, 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i',  /* U+0120 */
    'i', 0x0131, 0x0133, 0x0133, 'j', 'j', 'k', 'k', 0x0138, 'l', 'l', 'l', 'l', 'l', 'l', 0x0140,
    0x0140, 0x0142, 0x0142, 'n', 'n', 'n', 'n', 'n', 'n', 0x0149, 0x014B, 0x014B, 'o', 'o', 'o', 'o',  /* U+0140 */
    'o', 'o', 0x0153, 0x0153, 'r', 'r', 'r', 'r', 'r', 'r', 's', 's', 's', 's', 's', 's',
    's', 's', 't', 't', 't', 't', 0x0167, 0x0167, 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',  /* U+0160 */
    'u', 'u', 'u', 'u', 'w', 'w', 'y', 'y', 'y', 'z', 'z', 'z', 'z', 'z', 'z', 0x017F,
};

/* Lower-cased, accent-stripped form of c; 0 for a combining mark (dropped):
 * diacritics, CJK tone and kana voicing marks, half marks. */
static uint32_t fold(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0x17F) return kFoldLatin[c - 0xC0];
  static const uint32_t kMarks[][2] = {{0x300, 0x36F}, {0x302A, 0x302D}, {0x3099, 0x309A},
                                       {0xFE20, 0xFE2F}}; /* Mn */
  return IN(c, kMarks) ? 0 : c;
}

/* ------------------------------------------------------------ WordPiece */

/* A word being collected: its bytes (the first MAX_WORD_CHARS characters
 * only; a longer word is [UNK] anyway) and its length in characters. */
typedef struct {
  char bytes[BERT_TOKENIZER_MAX_WORD_CHARS * 4 + 4];
  size_t size;
  int chars;
} Word;

typedef struct {
  int64_t* ids;
  int count, limit; /* limit: the most word pieces (max_len - 2) */
} Output;

static void emit(Output* out, int64_t id) {
  if (out->count < out->limit) out->ids[out->count++] = id;
}

/* Greedy longest-match-first: the longest vocabulary entry that starts the
 * rest of the word, with "##" in front after the first piece. A word that
 * cannot be covered becomes a single [UNK]. */
static void wordpiece(const bert_tokenizer* t, Word* w, Output* out) {
  if (w->chars == 0) return;
  if (w->chars > BERT_TOKENIZER_MAX_WORD_CHARS) {
    emit(out, t->unk);
    w->size = 0, w->chars = 0;
    return;
  }
  int64_t pieces[BERT_TOKENIZER_MAX_WORD_CHARS];
  int n = 0;
  char key[sizeof w->bytes + 2] = "##";
  size_t start = 0;
  while (start < w->size) {
    int64_t id = -1;
    size_t end = w->size;
    for (; end > start; --end) {
      if (end < w->size && ((unsigned char)w->bytes[end] & 0xC0) == 0x80) continue; /* mid-character */
      size_t prefix = start > 0 ? 2 : 0; /* key is "##" + the candidate piece */
      memcpy(key + 2, w->bytes + start, end - start);
      if ((id = lookup(t, key + 2 - prefix, end - start + prefix)) >= 0) break;
    }
    if (id < 0) {
      n = 0;
      pieces[n++] = t->unk;
      break;
    }
    pieces[n++] = id;
    start = end;
  }
  for (int i = 0; i < n; ++i) emit(out, pieces[i]);
  w->size = 0, w->chars = 0;
}

static void add_char(Word* w, uint32_t c) {
  if (w->chars++ < BERT_TOKENIZER_MAX_WORD_CHARS) w->size += encode_utf8(c, w->bytes + w->size);
}

int bert_tokenizer_encode(const bert_tokenizer* t, const char* text, int64_t* ids, int max_len) {
  if (max_len < 2) return -1;
  Output out = {ids + 1, 0, max_len - 2};
  Word w = {{0}, 0, 0};
  const unsigned char* s = (const unsigned char*)text;
  size_t n = strlen(text);
  for (size_t i = 0, used; i < n && out.count < out.limit; i += used) {
    uint32_t c = decode_utf8(s + i, n - i, &used);
    if (c == 0 || is_control(c)) continue; /* before is_space: it keeps \t \n \r */
    if (is_space(c)) {
      wordpiece(t, &w, &out);
    } else if (is_cjk(c) || is_punct(c)) {
      wordpiece(t, &w, &out);
      add_char(&w, c);
      wordpiece(t, &w, &out);
    } else if ((c = fold(c)) != 0) {
      add_char(&w, c);
    }
  }
  wordpiece(t, &w, &out);
  ids[0] = t->cls;
  ids[out.count + 1] = t->sep;
  return out.count + 2;
}
