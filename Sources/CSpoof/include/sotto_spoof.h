// ICU's spoof checker (UTS #39) and NFKC case folding, behind plain C types: the system's
// ICU headers stay inside spoof.c, so they never meet the toolchain's own ICU module
// (which Foundation imports) and ICU's versioned entry-point names stay out of Swift.
#ifndef SOTTO_SPOOF_H
#define SOTTO_SPOOF_H
#include <stdint.h>

/// A checker for usernames, or NULL if ICU could not make one.
void *sotto_spoof_open(void);

/// The checks a name fails (0: none), or -1 if ICU failed.
int32_t sotto_spoof_check(const void *checker, const uint16_t *name, int32_t length);

/// Writes the confusable skeleton of `name` into `dest`; returns its length (which may
/// exceed `capacity`: call again with that much room), or -1 if ICU failed.
int32_t sotto_spoof_skeleton(const void *checker, const uint16_t *name, int32_t length, uint16_t *dest, int32_t capacity);

/// NFKC_Casefold of `text` into `dest`; the same return convention.
int32_t sotto_nfkc_casefold(const uint16_t *text, int32_t length, uint16_t *dest, int32_t capacity);

/// The line `text` as drawn left to right: Arabic letters in their joined forms, right-to-left
/// runs in visual order (Unicode's bidirectional algorithm, the paragraph's direction from its
/// first strong letter); the same return convention.
int32_t sotto_bidi_visual(const uint16_t *text, int32_t length, uint16_t *dest, int32_t capacity);

#endif
