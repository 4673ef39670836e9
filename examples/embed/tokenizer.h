/* tokenizer.h - a small BERT WordPiece tokenizer in C11 (uncased models).
 *
 * It does what Hugging Face's BertTokenizer does for a lower-casing model
 * (bert-base-uncased and the MiniLM / sentence-transformers models built on
 * its vocabulary):
 *
 *   1. clean-up: drop NUL, U+FFFD and control/format characters, treat every
 *      whitespace character as a space;
 *   2. basic tokenisation: lower-case and strip accents, split on whitespace
 *      and punctuation (each punctuation mark is a token), and make every CJK
 *      ideograph a token of its own;
 *   3. WordPiece: greedy longest match from the start of each word, with
 *      "##" before every piece but the first; a word with no match, or
 *      longer than 100 characters, becomes [UNK];
 *   4. [CLS] pieces [SEP], the pieces cut so that the whole fits max_len.
 *
 * Limits (where it can differ from the reference, which uses full Unicode
 * tables): lower-casing and accent stripping cover ASCII, Latin-1 Supplement
 * and Latin Extended-A (U+0000-U+017F); the combining marks U+0300-U+036F,
 * U+302A-U+302D, U+3099-U+309A and U+FE20-U+FE2F are dropped. Letters of
 * other scripts pass through unchanged, so upper-case or accented Greek and
 * Cyrillic, Hangul syllables and voiced kana (which BERT decomposes) can
 * give other pieces than the reference. Punctuation is recognised in ASCII,
 * Latin-1, General Punctuation, CJK Symbols and Punctuation and the
 * fullwidth forms. Special tokens written in the text ("[SEP]") are
 * tokenised as plain text.
 * test/python/test_tokenizer.py checks it against the `tokenizers` package.
 */
#ifndef BERT_TOKENIZER_H
#define BERT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bert_tokenizer bert_tokenizer;

/** Words longer than this many characters become [UNK] (as in BERT). */
#define BERT_TOKENIZER_MAX_WORD_CHARS 100

/** Loads a WordPiece vocabulary: vocab.txt, one token per line, the id of a
 *  token being its line number from 0. It must hold [CLS], [SEP], [UNK] and
 *  [PAD]. Returns NULL on failure with a one-line message in err[errlen]. */
bert_tokenizer* bert_tokenizer_load(const char* vocab_path, char* err, size_t errlen);

/** Frees the tokenizer; NULL is a no-op. */
void bert_tokenizer_free(bert_tokenizer* tok);

/** Tokenises UTF-8 `text` into ids: [CLS] word pieces [SEP], at most
 *  `max_len` ids in all (pieces past max_len - 2 are dropped). Invalid UTF-8
 *  bytes are dropped. Returns the number of ids written, or -1 when max_len
 *  is below 2. */
int bert_tokenizer_encode(const bert_tokenizer* tok, const char* text, int64_t* ids, int max_len);

/** The id of `token`, or -1 when it is not in the vocabulary. */
int64_t bert_tokenizer_token_id(const bert_tokenizer* tok, const char* token);

/** The number of tokens in the vocabulary. */
int64_t bert_tokenizer_vocab_size(const bert_tokenizer* tok);

/** The id of the padding token [PAD]. */
int64_t bert_tokenizer_pad_id(const bert_tokenizer* tok);

#ifdef __cplusplus
}
#endif

#endif /* BERT_TOKENIZER_H */
