#include "sotto_spoof.h"
#include <unicode/uspoof.h>
#include <unicode/unorm2.h>

void *sotto_spoof_open(void) {
    UErrorCode status = U_ZERO_ERROR;
    USpoofChecker *checker = uspoof_open(&status);
    if (U_FAILURE(status)) return NULL;
    // A name a person reads: one script (or the combinations CJK writing uses), no
    // invisible or repeated marks, digits of one system.
    uspoof_setChecks(checker, USPOOF_RESTRICTION_LEVEL | USPOOF_INVISIBLE | USPOOF_MIXED_NUMBERS, &status);
    uspoof_setRestrictionLevel(checker, USPOOF_HIGHLY_RESTRICTIVE);
    if (U_FAILURE(status)) { uspoof_close(checker); return NULL; }
    return checker;
}

int32_t sotto_spoof_check(const void *checker, const uint16_t *name, int32_t length) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t failed = uspoof_check2((const USpoofChecker *)checker, (const UChar *)name, length, NULL, &status);
    return U_FAILURE(status) ? -1 : failed;
}

static int32_t finish(int32_t length, UErrorCode status) {
    if (status == U_BUFFER_OVERFLOW_ERROR || status == U_STRING_NOT_TERMINATED_WARNING) return length;
    return U_FAILURE(status) ? -1 : length;
}

int32_t sotto_spoof_skeleton(const void *checker, const uint16_t *name, int32_t length, uint16_t *dest, int32_t capacity) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t n = uspoof_getSkeleton((const USpoofChecker *)checker, 0, (const UChar *)name, length, (UChar *)dest, capacity, &status);
    return finish(n, status);
}

int32_t sotto_nfkc_casefold(const uint16_t *text, int32_t length, uint16_t *dest, int32_t capacity) {
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2 *normalizer = unorm2_getNFKCCasefoldInstance(&status);
    if (U_FAILURE(status)) return -1;
    int32_t n = unorm2_normalize(normalizer, (const UChar *)text, length, (UChar *)dest, capacity, &status);
    return finish(n, status);
}

#include <unicode/ubidi.h>
#include <unicode/ushape.h>
#include <stdlib.h>

int32_t sotto_bidi_visual(const uint16_t *text, int32_t length, uint16_t *dest, int32_t capacity) {
    UErrorCode status = U_ZERO_ERROR;
    // Arabic letters take their joined forms while still in logical order (once reordered,
    // a shaper would join each to the wrong neighbour); then the line is put in visual order.
    int32_t room = length * 2 + 16;
    UChar *shaped = malloc(sizeof(UChar) * (size_t)room);
    if (!shaped) return -1;
    int32_t shapedLength = u_shapeArabic((const UChar *)text, length, shaped, room,
                                         U_SHAPE_LETTERS_SHAPE | U_SHAPE_TEXT_DIRECTION_LOGICAL, &status);
    if (U_FAILURE(status)) { free(shaped); return -1; }
    UBiDi *bidi = ubidi_openSized(shapedLength, 0, &status);
    if (U_FAILURE(status)) { free(shaped); return -1; }
    ubidi_setPara(bidi, shaped, shapedLength, UBIDI_DEFAULT_LTR, NULL, &status);
    int32_t n = U_FAILURE(status) ? -1
        : ubidi_writeReordered(bidi, (UChar *)dest, capacity, UBIDI_DO_MIRRORING | UBIDI_REMOVE_BIDI_CONTROLS, &status);
    ubidi_close(bidi);
    free(shaped);
    if (n < 0) return -1;
    return finish(n, status);
}
