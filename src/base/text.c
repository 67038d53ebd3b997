/* Text checks shared by the layers: the IDL loader (string constants) and
 * the JSON layer (strings on the way out and in) both need to know what
 * UTF-8 is, and must agree on it. */
#include "base/base.h"

bool thrift__utf8_valid(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = thrift__utf8_seq(s + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}
